"""Admin of the rows the pipeline writes (runs, messages, attachments, blobs): viewed, never edited.

Mailboxes and their accesses are in admin_mailboxes.py, what every admin here shares in
admin_scoping.py; importing this module (Django's autodiscovery) registers them all.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .admin_mailboxes import MailboxAccessAdmin, MailboxAdmin, fetch_start
from .admin_scoping import EMPTY, MailboxFilter, MailboxScoped, ReadOnlyAdmin, _admin_link, _short
from .exports import AttachmentExports
from .inlines import FirstRowsInline
from .models import Attachment, Blob, FetchRun, MailMessage
from .services.access import visible_mailbox_ids
from .services.preview_requests import preview_offered
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
    "cut",
    "fetch_start",
    "under",
]


def cut(text: str, width: str = "") -> SafeString:
    """`text` whole, cut by the list's CSS (lists.css) to its column with an ellipsis, and whole on hover.

    `width` is "narrow" or "wide" for a column narrower or wider than a name's usual one.
    """
    css = f"cut cut-{width}" if width else "cut"
    if not text:
        return format_html("{}", EMPTY)
    return format_html('<span class="{}" title="{}">{}</span>', css, text, text)


def under(first: object, second: object) -> SafeString:
    """Two facts in one cell, the second small under the first: two columns' room in one."""
    if not second:
        return format_html("{}", first)
    return format_html("{}<br><small>{}</small>", first, second)


@admin.register(FetchRun)
class FetchRunAdmin(MailboxScoped, ReadOnlyAdmin):
    list_display = (
        "id",
        "created_display",
        "mailbox_display",
        "status_display",
        "messages_display",
        "attachments_display",
        "failures_display",
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

    @admin.display(description=_("created at"), ordering="created_at")
    def created_display(self, obj: FetchRun) -> SafeString:
        duration = self.duration_display(obj)
        took = gettext("took %(duration)s") % {"duration": duration} if duration != EMPTY else ""
        return under(display_for_value(obj.created_at, EMPTY), took)

    @admin.display(description=_("mailbox"), ordering="mailbox__name")
    def mailbox_display(self, obj: FetchRun) -> SafeString:
        return cut(str(obj.mailbox), "narrow")

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: FetchRun) -> SafeString:
        return under(obj.get_status_display(), obj.get_trigger_display())

    @admin.display(description=_("messages seen / new"), ordering="messages_seen")
    def messages_display(self, obj: FetchRun) -> str:
        return f"{obj.messages_seen} / {obj.messages_new}"

    @admin.display(description=_("attachments (stored / already kept)"), ordering="attachments_stored")
    def attachments_display(self, obj: FetchRun) -> str:
        return f"{obj.attachments_stored} / {obj.attachments_deduplicated}"

    @admin.display(description=_("failed (messages / attachments)"), ordering="messages_failed")
    def failures_display(self, obj: FetchRun) -> SafeString:
        text = f"{obj.messages_failed} / {obj.attachments_failed}"
        if obj.messages_failed or obj.attachments_failed:
            return format_html('<span class="failed-count">{}</span>', text)
        return format_html("{}", text)

    @admin.display(description=_("error"))
    def short_error(self, obj: FetchRun) -> SafeString:
        return cut(obj.error, "wide")


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
        if not preview_offered(obj):
            return EMPTY
        url = reverse("inbox:attachment_preview", args=[obj.pk])
        return format_html(
            '<img class="thumb" src="{}" alt="{}" loading="lazy" width="64">',
            url,
            gettext("preview of %(name)s") % {"name": obj.filename},
        )

    @admin.display(description=_("error"))
    def short_error(self, obj: Attachment) -> str:
        return _short(obj.error or obj.preview_error)

    @admin.display(description=_("filename"), ordering="filename")
    def filename_display(self, obj: Attachment) -> SafeString:
        return under(cut(obj.filename), obj.content_type)

    @admin.display(description=_("error"))
    def error_display(self, obj: Attachment) -> SafeString:
        return cut(obj.error or obj.preview_error)


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
        "mailbox_display",
        "status_display",
        "attachment_count",
        "received_at",
        "short_error",
    )
    list_filter = ("status", ("copy_of", admin.EmptyFieldListFilter), ("mailbox", MailboxFilter))
    date_hierarchy = "created_at"
    search_fields = ("subject", "sender", "internet_message_id", "source_id")
    list_select_related = ("mailbox",)
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
    def subject_display(self, obj: MailMessage) -> SafeString:
        """The subject and, under it, who sent it: the two a person scans a mailbox by."""
        return under(cut(obj.subject or gettext("(no subject)"), "wide"), cut(obj.sender, "wide"))

    @admin.display(description=_("mailbox"), ordering="mailbox__name")
    def mailbox_display(self, obj: MailMessage) -> SafeString:
        return cut(str(obj.mailbox), "narrow")

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: MailMessage) -> SafeString:
        attempts = obj.delivery_attempts
        tried = (
            ngettext("%(count)d attempt", "%(count)d attempts", attempts) % {"count": attempts} if attempts > 1 else ""
        )
        return under(obj.get_status_display(), tried)

    @admin.display(description=_("error"))
    def short_error(self, obj: MailMessage) -> SafeString:
        return cut(obj.error)


@admin.register(Blob)
class BlobAdmin(ReadOnlyAdmin):
    def get_queryset(self, request: HttpRequest) -> QuerySet[Blob]:
        """Blobs of attachments of the user's mailboxes only (a subquery: one row per blob)."""
        queryset = super().get_queryset(request)
        ids = visible_mailbox_ids(request.user)
        if ids is None:
            return queryset
        return queryset.filter(pk__in=Attachment.objects.filter(message__mailbox_id__in=ids).values("blob_id"))

    list_display = ("sha256_display", "size_display", "content_type", "storage_display", "created_at")
    list_display_links = ("sha256_display",)
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

    @admin.display(description=_("sha256"), ordering="sha256")
    def sha256_display(self, obj: Blob) -> SafeString:
        return cut(obj.sha256, "narrow")

    @admin.display(description=_("storage name"), ordering="storage_name")
    def storage_display(self, obj: Blob) -> SafeString:
        return cut(obj.storage_name)


@admin.register(Attachment)
class AttachmentAdmin(AttachmentExports, MailboxScoped, AttachmentDisplay, ReadOnlyAdmin):
    mailbox_field = "message__mailbox_id"
    list_display = (
        "thumbnail",
        "filename_display",
        "size_display",
        "status",
        "preview_status",
        "error_display",
        "message_link",
        "download_link",
    )
    list_display_links = ("filename_display",)
    list_filter = ("status", "preview_status", ("message__mailbox", MailboxFilter))
    date_hierarchy = "created_at"
    search_fields = ("filename", "original_filename", "blob__sha256", "message__subject", "message__sender")
    list_select_related = ("blob", "message")
    readonly_fields = ("thumbnail", "size_display", "download_link", "members_links", "documents_links")

    @admin.display(description=_("message"), ordering="message")
    def message_link(self, obj: Attachment) -> str:
        return _admin_link(obj.message, cut(str(obj.message)))

    @admin.display(description=_("files inside"))
    def members_links(self, obj: Attachment) -> str:
        """What was taken out of this ZIP, .msg or winmail.dat (the container field links back)."""
        links = ((_admin_link(member, member.filename),) for member in obj.members.order_by("position"))
        return format_html_join(", ", "{}", links) or "-"

    @admin.display(description=_("documents in this file"))
    def documents_links(self, obj: Attachment) -> str:
        """The Documents this XML carried (its copies) or whose supplier's PDF it is: of its own mailbox only."""
        # documents build on this app, never the other way: imported here, not at the top
        from webapp.documents.models import Document
        from webapp.documents.reference_labels import document_label

        documents = Document.objects.filter(
            Q(sources__attachment=obj) | Q(pdf_attachment=obj), mailbox_id=obj.message.mailbox_id
        ).distinct()
        rows = [
            (_admin_link(document, document_label(document)), document.issuer_name)
            for document in documents.order_by("doc_type", "folio")
        ]
        if not rows:
            return EMPTY
        items = format_html_join("", "<li>{} <small>{}</small></li>", rows)
        # the admin indents a list in a form's row (for radio buttons): not this one
        return format_html('<ul class="attachment-documents" style="margin:0;padding:0;list-style:none">{}</ul>', items)
