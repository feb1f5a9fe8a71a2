"""The Attachment list exported to Excel and CSV: one row per file, with the mail that carried it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext

from webapp.exports_admin import DATETIME, ExportMixin, Table, UrlOf, chunked, local

from .models import Attachment


def header() -> list[str]:
    return [
        gettext("Mailbox"),
        gettext("Mail subject"),
        gettext("Sender"),
        gettext("Received at"),
        gettext("File name"),
        gettext("Content type"),
        gettext("Size (bytes)"),
        gettext("Status"),
        gettext("SHA-256"),
        gettext("Download"),
    ]


FORMATS = {3: DATETIME, 6: "#,##0"}


class AttachmentExports(ExportMixin):
    export_filename = "adjuntos"

    def export_table(self, request: HttpRequest, queryset: QuerySet) -> Table:
        return Table(gettext("Attachments"), header(), attachment_rows(request, queryset), FORMATS)


def attachment_rows(request: HttpRequest, queryset: QuerySet[Attachment]) -> Iterator[list[Any]]:
    """The rows of `queryset` (the list's own, filtered and ordered), read in chunks: no query per row.

    The labels are read now, in the request's language, before the first row is written.
    """
    statuses = {status.value: str(status.label) for status in Attachment.Status}
    download = UrlOf(request, "inbox:attachment_download")

    def row(attachment: Attachment) -> list[Any]:
        message, blob = attachment.message, attachment.blob
        return [
            message.mailbox.name,
            message.subject,
            message.sender,
            local(message.received_at),
            attachment.filename,
            attachment.content_type,
            blob.size if blob is not None else None,
            statuses.get(attachment.status, attachment.status),
            blob.sha256 if blob is not None else "",
            download(attachment.pk) if blob is not None else "",
        ]

    return (row(attachment) for attachment in chunked(queryset.select_related("message__mailbox", "blob")))
