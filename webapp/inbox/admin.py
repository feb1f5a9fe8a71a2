"""Admin: mailboxes are edited here; every other row is written by the pipeline and only viewed."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, ForeignKey, Model, OuterRef, Q, QuerySet, Subquery
from django.forms import ModelChoiceField
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from .inlines import FirstRowsInline
from .models import Attachment, Blob, FetchRun, Mailbox, MailboxAccess, MailMessage
from .services.access import limit_to_user, visible_mailbox_ids
from .services.dead_letters import dead_letter_resend
from .services.runs import fetch_run_cancel, fetch_run_start

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise, WithAnnotations

#: Errors are cut to this many characters in lists.
ERROR_PREVIEW_CHARS = 80

EMPTY = "-"


def _short(text: str) -> str:
    return Truncator(text or "").chars(ERROR_PREVIEW_CHARS)


def _admin_link(obj: Model, text: str) -> str:
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text)


def fetch_start(request: HttpRequest, mailbox: Mailbox) -> FetchRun | None:
    """Start a MANUAL run of `mailbox` (fetch_run_start); tell the user either way."""
    run = fetch_run_start(mailbox=mailbox, trigger=FetchRun.Trigger.MANUAL)
    if run is None:
        messages.warning(
            request, gettext("%(mailbox)s: a run is already in progress; nothing started.") % {"mailbox": mailbox}
        )
        return None
    messages.success(
        request, gettext("%(mailbox)s: fetch queued as run #%(run)s.") % {"mailbox": mailbox, "run": run.pk}
    )
    return run


class MailboxScoped(admin.ModelAdmin):
    """A user limited to some mailboxes lists, opens and acts on only their rows (404 for the others)."""

    #: Lookup from this model to its mailbox's id.
    mailbox_field = "mailbox_id"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return limit_to_user(super().get_queryset(request), request.user, mailbox_field=self.mailbox_field)

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if db_field.related_model is Mailbox:
            kwargs["queryset"] = limit_to_user(Mailbox.objects.all(), request.user, mailbox_field="pk")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


#: Staff with this permission see the dead letters and may send them again.
DEAD_LETTERS_PERMISSION = "inbox.resend_dead_letters"


def dead_letters_view(request: HttpRequest) -> HttpResponse:
    """The queues' dead letters with their reason; POST sends one again (staff + permission).

    Dead letters carry only ids, and span every mailbox: only holders of the permission see them.
    """
    from django.template.response import TemplateResponse

    from pipeline import locks, queues

    if not request.user.has_perm(DEAD_LETTERS_PERMISSION):
        raise PermissionDenied
    if request.method == "POST":
        queue, message_id = request.POST.get("queue", ""), request.POST.get("message_id", "")
        try:
            resent = dead_letter_resend(queue=queue, message_id=message_id)
        except ValueError:
            resent = False
        if resent:
            messages.success(
                request,
                gettext("Dead letter %(id)s sent again to the %(queue)s queue.") % {"id": message_id, "queue": queue},
            )
        else:
            messages.warning(request, gettext("That dead letter is gone already; nothing sent."))
        return HttpResponseRedirect(reverse("admin:inbox_dead_letters"))
    letters = queues.dead_letters(locks.shared_client())
    for letter in letters:
        letter["failed_at"] = datetime.fromtimestamp(letter["failed_at_ms"] / 1000).astimezone()
    context = {**admin.site.each_context(request), "title": gettext("Dead letters"), "letters": letters}
    return TemplateResponse(request, "admin/inbox/dead_letters.html", context)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the pipeline writes: viewable with the view permission, never added, changed or deleted."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


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
    fields = ("name", "kind", "settings", "active", "graph_credentials", "fetch_button")
    readonly_fields = ("graph_credentials", "fetch_button")
    actions = ("fetch_now",)
    # Save buttons come first in the form, so Enter in a field saves instead of pressing "Fetch now".
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

    @admin.display(description=_("last run"), ordering="_last_status")
    def last_run_status(self, obj: AnnotatedMailbox) -> StrPromise | str:
        return FetchRun.Status(obj._last_status).label if obj._last_status else EMPTY

    @admin.display(description=_("last run at"), ordering="_last_at")
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

    @admin.action(description=_("Fetch now"), permissions=["change"])
    def fetch_now(self, request: HttpRequest, queryset: QuerySet[Mailbox]) -> None:
        for mailbox in queryset:
            fetch_start(request, mailbox)

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

    @admin.display(description=_("fetch"))
    def fetch_button(self, obj: Mailbox | None) -> str:
        if obj is None or obj.pk is None:
            return gettext("Save the mailbox first.")
        # The button posts the change form (with its CSRF token) to our own URL instead of saving.
        url = reverse("admin:inbox_mailbox_fetch", args=[obj.pk])
        return format_html(
            '<button type="submit" formaction="{}" formmethod="post" name="_fetch">{}</button>',
            url,
            gettext("Fetch now"),
        )

    def get_urls(self) -> list[URLPattern]:
        fetch = self.admin_site.admin_view(require_POST(self.fetch_view))
        dead = self.admin_site.admin_view(dead_letters_view)
        return [
            path("<int:object_id>/fetch/", fetch, name="inbox_mailbox_fetch"),
            path("dead-letters/", dead, name="inbox_dead_letters"),
            *super().get_urls(),
        ]

    def fetch_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        mailbox = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_change_permission(request, mailbox):
            raise PermissionDenied
        fetch_start(request, mailbox)
        return HttpResponseRedirect(reverse("admin:inbox_mailbox_change", args=[mailbox.pk]))


@admin.register(FetchRun)
class FetchRunAdmin(MailboxScoped, ReadOnlyAdmin):
    list_display = (
        "id",
        "mailbox",
        "trigger",
        "status",
        "created_at",
        "duration_display",
        "messages_seen",
        "messages_new",
        "attachments_stored",
        "attachments_deduplicated",
        "attachments_failed",
        "messages_failed",
        "short_error",
    )
    list_filter = ("status", "trigger", "mailbox")
    date_hierarchy = "created_at"
    search_fields = ("mailbox__name", "error")
    list_select_related = ("mailbox",)
    actions = ("cancel_runs",)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("inbox.change_fetchrun")

    @admin.action(description=_("Cancel the selected runs (queued work for them is dropped)"), permissions=["cancel"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[FetchRun]) -> None:
        cancelled = [run.pk for run in queryset if fetch_run_cancel(run_id=run.pk)]
        if cancelled:
            messages.success(
                request, gettext("Cancelled run(s) %(runs)s.") % {"runs": ", ".join(f"#{pk}" for pk in cancelled)}
            )
        if len(cancelled) < queryset.count():
            messages.warning(request, gettext("Runs that had already ended were left as they were."))

    @admin.display(description=_("duration"))
    def duration_display(self, obj: FetchRun) -> str:
        duration = obj.duration
        return f"{duration.total_seconds():.1f} s" if duration is not None else EMPTY

    @admin.display(description=_("error"))
    def short_error(self, obj: FetchRun) -> str:
        return _short(obj.error)


class AttachmentDisplay:
    """Columns shared by the attachment list and the inline under a message."""

    @admin.display(description=_("size"), ordering="blob__size")
    def size_display(self, obj: Attachment) -> str:
        return filesizeformat(obj.blob.size) if obj.blob is not None else EMPTY

    @admin.display(description=_("download"))
    def download_link(self, obj: Attachment) -> str:
        if obj.blob_id is None:
            return EMPTY
        return format_html(
            '<a href="{}">{}</a>', reverse("inbox:attachment_download", args=[obj.pk]), gettext("Download")
        )

    @admin.display(description=_("preview"))
    def thumbnail(self, obj: Attachment) -> str:
        if obj.preview_status != Attachment.PreviewStatus.READY:
            return EMPTY
        url = reverse("inbox:attachment_preview", args=[obj.pk])
        return format_html(
            '<img src="{}" alt="{}" loading="lazy" width="64" style="max-height:90px;object-fit:contain">',
            url,
            gettext("preview of %(name)s") % {"name": obj.filename},
        )

    @admin.display(description=_("error"))
    def short_error(self, obj: Attachment) -> str:
        return _short(obj.error or obj.preview_error)


class AttachmentInline(AttachmentDisplay, FirstRowsInline):
    model = Attachment
    fields = (
        "position",
        "thumbnail",
        "filename",
        "content_type",
        "size_display",
        "status",
        "preview_status",
        "short_error",
        "download_link",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Attachment]:
        return super().get_queryset(request).select_related("blob")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(MailMessage)
class MailMessageAdmin(MailboxScoped, ReadOnlyAdmin):
    list_display = (
        "subject_display",
        "sender",
        "mailbox",
        "status",
        "delivery_attempts",
        "attachment_count",
        "received_at",
        "run_link",
        "short_error",
    )
    list_filter = ("status", ("copy_of", admin.EmptyFieldListFilter), "mailbox")
    date_hierarchy = "created_at"
    search_fields = ("subject", "sender", "internet_message_id", "source_id")
    list_select_related = ("mailbox", "fetch_run")
    exclude = ("copy_of",)  # shown as copy_of_link, which says what a copy is
    readonly_fields = ("copy_of_link", "shared_message_id")
    inlines = (AttachmentInline,)

    @admin.display(description=_("copy of"))
    def copy_of_link(self, obj: MailMessage) -> str:
        if obj.copy_of is None:
            return EMPTY
        return _admin_link(
            obj.copy_of, gettext("%(message)s: the same mail, its files are kept there") % {"message": obj.copy_of}
        )

    @admin.display(description=_("shares its Message-ID with"))
    def shared_message_id(self, obj: MailMessage) -> str:
        """Other mails of the mailbox under the same Message-ID: a hint some mailers reuse, not one mail."""
        if not obj.internet_message_id:
            return EMPTY
        others = MailMessage.objects.filter(
            mailbox_id=obj.mailbox_id, internet_message_id=obj.internet_message_id
        ).exclude(pk=obj.pk)[:20]
        links = [_admin_link(other, str(other)) for other in others]
        return format_html_join(", ", "{}", ((link,) for link in links)) if links else EMPTY

    @admin.display(description=_("subject"), ordering="subject")
    def subject_display(self, obj: MailMessage) -> str:
        return Truncator(obj.subject or gettext("(no subject)")).chars(100)

    @admin.display(description=_("run"), ordering="fetch_run")
    def run_link(self, obj: MailMessage) -> str:
        return _admin_link(obj.fetch_run, f"#{obj.fetch_run_id}") if obj.fetch_run is not None else EMPTY

    @admin.display(description=_("error"))
    def short_error(self, obj: MailMessage) -> str:
        return _short(obj.error)


@admin.register(Blob)
class BlobAdmin(ReadOnlyAdmin):
    def get_queryset(self, request: HttpRequest) -> QuerySet[Blob]:
        """Blobs of attachments of the user's mailboxes only (a subquery: one row per blob)."""
        queryset = super().get_queryset(request)
        ids = visible_mailbox_ids(request.user)
        if ids is None:
            return queryset
        return queryset.filter(pk__in=Attachment.objects.filter(message__mailbox_id__in=ids).values("blob_id"))

    list_display = ("sha256", "size_display", "content_type", "storage_name", "created_at")
    list_filter = ("content_type",)
    date_hierarchy = "created_at"
    search_fields = ("sha256", "attachments__filename")

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        """The join to attachments reaches every attachment of a blob, other mailboxes' too: a limited
        user searches names in get_search_results, among the attachments they may see."""
        if visible_mailbox_ids(request.user) is None:
            return tuple(self.search_fields)
        return ("sha256",)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Blob], search_term: str
    ) -> tuple[QuerySet[Blob], bool]:
        found, duplicates = super().get_search_results(request, queryset, search_term)
        ids = visible_mailbox_ids(request.user)
        if ids is None or not search_term.strip():
            return found, duplicates
        named = Attachment.objects.filter(message__mailbox_id__in=ids, filename__icontains=search_term.strip())
        return found | queryset.filter(pk__in=named.values("blob_id")), duplicates

    @admin.display(description=_("size"), ordering="size")
    def size_display(self, obj: Blob) -> str:
        return filesizeformat(obj.size)


@admin.register(Attachment)
class AttachmentAdmin(MailboxScoped, AttachmentDisplay, ReadOnlyAdmin):
    mailbox_field = "message__mailbox_id"
    list_display = (
        "thumbnail",
        "filename",
        "content_type",
        "size_display",
        "status",
        "preview_status",
        "short_error",
        "download_link",
        "message_link",
    )
    list_display_links = ("filename",)
    list_filter = ("status", "preview_status", "message__mailbox")
    date_hierarchy = "created_at"
    search_fields = ("filename", "original_filename", "blob__sha256", "message__subject", "message__sender")
    list_select_related = ("blob", "message")
    readonly_fields = ("thumbnail", "size_display", "download_link", "members_links")

    @admin.display(description=_("message"), ordering="message")
    def message_link(self, obj: Attachment) -> str:
        return _admin_link(obj.message, Truncator(str(obj.message)).chars(60))

    @admin.display(description=_("files inside"))
    def members_links(self, obj: Attachment) -> str:
        """What was taken out of this ZIP, .msg or winmail.dat (the container field links back)."""
        links = ((_admin_link(member, member.filename),) for member in obj.members.order_by("position"))
        return format_html_join(", ", "{}", links) or "-"


@admin.register(MailboxAccess)
class MailboxAccessAdmin(admin.ModelAdmin):
    """Who sees which mailbox; users with `inbox.view_all_mailboxes` (and superusers) see them all."""

    list_display = ("mailbox", "user", "group")
    list_filter = ("mailbox",)
    search_fields = ("mailbox__name", "user__username", "group__name")
    list_select_related = ("mailbox", "user", "group")
    autocomplete_fields = ()
