"""Admin of the rows the pipeline writes (runs, messages, attachments, blobs): viewed, never edited.

Mailboxes and their accesses are in admin_mailboxes.py, what every admin here shares in
admin_scoping.py; importing this module (Django's autodiscovery) registers them all.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .admin_mailboxes import MailboxAccessAdmin, MailboxAdmin, fetch_start
from .admin_scoping import EMPTY, MailboxFilter, MailboxScoped, ReadOnlyAdmin, _admin_link, _short
from .exports import AttachmentExports
from .inlines import FirstRowsInline
from .models import Attachment, Blob, FetchRun, MailMessage
from .services.access import visible_mailbox_ids
from .services.runs import fetch_run_cancel

#: Importers of this module (webapp.documents.admin, the dashboard) use these names from here.
__all__ = [
    "EMPTY",
    "MailboxAccessAdmin",
    "MailboxAdmin",
    "MailboxScoped",
    "ReadOnlyAdmin",
    "_admin_link",
    "_short",
    "fetch_start",
]


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
    list_filter = ("status", "trigger", ("mailbox", MailboxFilter))
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
    list_filter = ("status", ("copy_of", admin.EmptyFieldListFilter), ("mailbox", MailboxFilter))
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
class AttachmentAdmin(AttachmentExports, MailboxScoped, AttachmentDisplay, ReadOnlyAdmin):
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
    list_filter = ("status", "preview_status", ("message__mailbox", MailboxFilter))
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
