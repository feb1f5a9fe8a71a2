"""What the admins of pipeline rows share: the per-mailbox limit, read-only rows, short errors, links."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import ForeignKey, Model, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from .models import Mailbox
from .search import BoundedSearch
from .services.access import limit_to_user, visible_mailbox_names

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

#: Errors are cut to this many characters in lists.
ERROR_PREVIEW_CHARS = 80

EMPTY = "-"


def _short(text: str) -> str:
    return Truncator(text or "").chars(ERROR_PREVIEW_CHARS)


def _admin_link(obj: Model, text: str) -> str:
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text)


def visible_mailboxes(request: HttpRequest) -> QuerySet[Mailbox]:
    return limit_to_user(Mailbox.objects.all(), request.user, mailbox_field="pk")


class MailboxFilter(admin.RelatedFieldListFilter):
    """A filter by mailbox that lists only the user's mailboxes (Django's lists every row of the table)."""

    def field_choices(
        self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[str, str | StrPromise]]:
        ordering = self.field_admin_ordering(field, request, model_admin) or ("name",)
        names = visible_mailbox_names(request.user)
        if names is not None and tuple(ordering) == ("name",):  # the user's mailboxes, read with their scope
            return [(str(pk), name) for pk, name in sorted(names.items(), key=lambda item: (item[1], item[0]))]
        return [(str(mailbox.pk), str(mailbox)) for mailbox in visible_mailboxes(request).order_by(*ordering)]


class MailboxScoped(BoundedSearch, admin.ModelAdmin):
    """A user limited to some mailboxes lists, opens and acts on only their rows (404 for the others).

    Every action, the change, delete and history pages, and the autocomplete and raw-id lookups
    start from get_queryset, so they stay inside the user's mailboxes too. A filter by mailbox
    uses MailboxFilter.
    """

    #: Lookup from this model to its mailbox's id.
    mailbox_field = "mailbox_id"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return limit_to_user(super().get_queryset(request), request.user, mailbox_field=self.mailbox_field)

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if db_field.related_model is Mailbox:
            kwargs["queryset"] = visible_mailboxes(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlyAdmin(BoundedSearch, admin.ModelAdmin):
    """Rows the pipeline writes: viewable with the view permission, never added, changed or deleted."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
