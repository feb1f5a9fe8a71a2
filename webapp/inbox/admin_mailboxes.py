"""Admin of mailboxes and of who sees them.

Operators say where a mailbox reads from: its kind and source settings change only with
`inbox.change_mailbox_source` (forms.py checks them); for anyone else they are read-only, so a
clerk who may switch a mailbox on or off cannot point it at another folder or Microsoft 365 user.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, ForeignKey, OuterRef, Q, QuerySet, Subquery
from django.forms import ModelChoiceField
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from .admin_dead_letters import dead_letters_view
from .admin_scoping import EMPTY, MailboxFilter, MailboxScoped
from .forms import MailboxForm
from .models import FetchRun, Mailbox, MailboxAccess, MailMessage
from .services.access import grantable_groups, grantable_users
from .services.mailbox_checks import graph_connection_test, mailbox_source_problems
from .services.runs import fetch_run_start

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise, WithAnnotations

#: Who may change where a mailbox reads from (and so add one).
SOURCE_PERMISSION = "inbox.change_mailbox_source"
#: The fields that say where a mailbox reads from.
SOURCE_FIELDS = ("kind", "settings")


def fetch_start(request: HttpRequest, mailbox: Mailbox) -> FetchRun | None:
    """Start a MANUAL read of `mailbox` (fetch_run_start); tell the user either way."""
    run = fetch_run_start(mailbox=mailbox, trigger=FetchRun.Trigger.MANUAL)
    if run is None:
        messages.warning(
            request, gettext("%(mailbox)s: a read is already in progress; nothing started.") % {"mailbox": mailbox}
        )
        return None
    messages.success(request, gettext("%(mailbox)s: mailbox read queued.") % {"mailbox": mailbox})
    return run


def connection_test_report(request: HttpRequest, mailbox: Mailbox) -> None:
    """Test `mailbox`'s connection (a Graph mailbox: one real call) and tell the user what came of it."""
    if mailbox.kind != Mailbox.Kind.GRAPH:
        problems = mailbox_source_problems(mailbox)
        if problems:
            messages.error(request, f"{mailbox}: {' '.join(problems)}")
        else:
            messages.success(request, gettext("%(mailbox)s: the folder is there and readable.") % {"mailbox": mailbox})
        return
    result = graph_connection_test(mailbox.settings if isinstance(mailbox.settings, dict) else {})
    (messages.success if result.ok else messages.error)(request, f"{mailbox}: {result.message}")


class _MailboxAnnotations(TypedDict):
    """What MailboxAdmin.get_queryset() adds to each mailbox."""

    _last_status: str | None
    _last_at: datetime | None
    _messages: int
    _pending: int
    _quarantined: int


if TYPE_CHECKING:
    AnnotatedMailbox = WithAnnotations[Mailbox, _MailboxAnnotations]


@admin.register(Mailbox)
class MailboxAdmin(MailboxScoped, admin.ModelAdmin):
    mailbox_field = "pk"
    form = MailboxForm
    list_display = (
        "name",
        "kind",
        "active",
        "last_run_status",
        "last_run_at",
        "message_count",
        "pending_count",
        "quarantined_count",
    )
    list_filter = ("kind", "active")
    search_fields = ("name",)
    fields = ("name", "kind", "settings", "active", "graph_credentials", "connection_button", "fetch_button")
    readonly_fields = ("graph_credentials", "connection_button", "fetch_button")
    actions = ("fetch_now", "test_connection")
    # Save buttons come first in the form, so Enter in a field saves instead of pressing "Read now".
    save_on_top = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[AnnotatedMailbox]:
        last = FetchRun.objects.filter(mailbox=OuterRef("pk")).order_by("-created_at")
        status = MailMessage.Status
        return (
            super()
            .get_queryset(request)
            .annotate(
                _last_status=Subquery(last.values("status")[:1]),
                _last_at=Subquery(last.values("created_at")[:1]),
                _messages=Count("messages"),
                _pending=Count("messages", filter=Q(messages__status=status.PENDING)),
                _quarantined=Count("messages", filter=Q(messages__status=status.QUARANTINED)),
            )
        )

    def has_change_source_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(SOURCE_PERMISSION)

    def has_add_permission(self, request: HttpRequest) -> bool:
        """A new mailbox is a new source: for operators only."""
        return super().has_add_permission(request) and self.has_change_source_permission(request)

    def get_readonly_fields(self, request: HttpRequest, obj: Mailbox | None = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return readonly if self.has_change_source_permission(request) else (*SOURCE_FIELDS, *readonly)

    @admin.display(description=_("last read"), ordering="_last_status")
    def last_run_status(self, obj: AnnotatedMailbox) -> StrPromise | str:
        return FetchRun.Status(obj._last_status).label if obj._last_status else EMPTY

    @admin.display(description=_("last read at"), ordering="_last_at")
    def last_run_at(self, obj: AnnotatedMailbox) -> datetime | None:
        return obj._last_at

    @admin.display(description=_("messages"), ordering="_messages")
    def message_count(self, obj: AnnotatedMailbox) -> int:
        return obj._messages

    @admin.display(description=_("pending"), ordering="_pending")
    def pending_count(self, obj: AnnotatedMailbox) -> int:
        return obj._pending

    @admin.display(description=_("quarantined"), ordering="_quarantined")
    def quarantined_count(self, obj: AnnotatedMailbox) -> int:
        return obj._quarantined

    @admin.action(description=_("Read now"), permissions=["change"])
    def fetch_now(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        for mailbox in queryset:
            fetch_start(request, mailbox)

    @admin.action(description=_("Test connection"), permissions=["change"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        for mailbox in queryset:
            connection_test_report(request, mailbox)

    @admin.display(description=_("connection"))
    def connection_button(self, obj: Mailbox | None) -> str:
        if obj is None or obj.pk is None:
            return gettext("Save the mailbox first.")
        if obj.kind != Mailbox.Kind.GRAPH:
            return gettext("Only for Microsoft 365 (Graph) mailboxes.")
        url = reverse("admin:inbox_mailbox_test_connection", args=[obj.pk])
        return format_html(
            '<button type="submit" formaction="{}" formmethod="post" name="_test_connection">{}</button> {}',
            url,
            gettext("Test connection"),
            gettext("Asks Microsoft 365 for a token and reads the configured folder, with the saved settings."),
        )

    @admin.display(description=_("Graph credentials"))
    def graph_credentials(self, obj: Mailbox | None) -> str:
        """Which GRAPH_* variables this web process sees: set or not, never their values."""
        from pipeline.sources.graph_auth import authority_host, credential_status, endpoint

        if obj is not None and obj.kind != Mailbox.Kind.GRAPH:
            return gettext("Only for Microsoft 365 (Graph) mailboxes.")
        status = credential_status()
        listed = format_html_join(
            ", ", "{} {}", ((name, gettext("set") if ok else gettext("not set")) for name, ok in status.items())
        )
        return format_html(
            gettext("{}<br>endpoint {}, authority {}<br>Settings: {}"),
            listed,
            endpoint(),
            authority_host(),
            '{"user": "invoices@contoso.com", "folder": "Inbox", "processed_folder": "Processed" '
            'or "mark_read": true, "include_inline": false}',
        )

    @admin.display(description=_("read"))
    def fetch_button(self, obj: Mailbox | None) -> str:
        if obj is None or obj.pk is None:
            return gettext("Save the mailbox first.")
        # The button posts the change form (with its CSRF token) to our own URL instead of saving.
        url = reverse("admin:inbox_mailbox_fetch", args=[obj.pk])
        return format_html(
            '<button type="submit" formaction="{}" formmethod="post" name="_fetch">{}</button>',
            url,
            gettext("Read now"),
        )

    def get_urls(self) -> list[URLPattern]:
        fetch = self.admin_site.admin_view(require_POST(self.fetch_view))
        test = self.admin_site.admin_view(require_POST(self.connection_test_view))
        dead = self.admin_site.admin_view(dead_letters_view)
        return [
            path("<int:object_id>/fetch/", fetch, name="inbox_mailbox_fetch"),
            path("<int:object_id>/test-connection/", test, name="inbox_mailbox_test_connection"),
            path("dead-letters/", dead, name="inbox_dead_letters"),
            *super().get_urls(),
        ]

    def fetch_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        mailbox = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_change_permission(request, mailbox):
            raise PermissionDenied
        fetch_start(request, mailbox)
        return HttpResponseRedirect(reverse("admin:inbox_mailbox_change", args=[mailbox.pk]))

    def connection_test_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        mailbox = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_change_permission(request, mailbox):
            raise PermissionDenied
        connection_test_report(request, mailbox)
        return HttpResponseRedirect(reverse("admin:inbox_mailbox_change", args=[mailbox.pk]))


@admin.register(MailboxAccess)
class MailboxAccessAdmin(MailboxScoped, admin.ModelAdmin):
    """Who sees which mailbox; users with `inbox.view_all_mailboxes` (and superusers) see them all.

    A user limited to some mailboxes lists, grants and withdraws access to those mailboxes only.
    """

    list_display = ("mailbox", "user", "group")
    list_filter = (("mailbox", MailboxFilter),)
    search_fields = ("mailbox__name", "user__username", "group__name")
    list_select_related = ("mailbox", "user", "group")
    autocomplete_fields = ()

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if db_field.name == "user":
            kwargs["queryset"] = grantable_users(request.user)
        elif db_field.name == "group":
            kwargs["queryset"] = grantable_groups(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
