"""Document downloads: the printable PDF, the XML, the thumbnail; login + staff + view permission.

The printable and its thumbnail are drawn on their first request (services/printable_requests.py),
after the access check: a user who may not see the document gets 404 and draws nothing.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from webapp.inbox.delivery import authorize, harden, stored_response
from webapp.inbox.services.access import visible_mailbox_ids
from webapp.inbox.views import PREVIEW_MAX_AGE

from .models import Document
from .reference_labels import document_label
from .selectors import documents_of_mailboxes
from .services.archive import PRINTABLE_SUFFIX, document_name_parts, stream_zip
from .services.printable_requests import PrintableNotNow, document_printable

#: The permission a staff user needs to download documents.
VIEW_PERMISSION = "documents.view_document"


def visible_documents(user, queryset=None):
    """Documents of the mailboxes `user` may see; the others answer 404."""
    queryset = Document.objects.all() if queryset is None else queryset
    return documents_of_mailboxes(queryset, visible_mailbox_ids(user))


def _filename(document: Document, suffix: str) -> str:
    """The archive's name of the file (services/archive.py), its folder (sin-rut) joined with `_`."""
    folder, stem = document_name_parts(document)
    return "_".join(part for part in (folder, stem) if part) + suffix


def _file_response(name: str, *, filename: str, content_type: str, attachment: bool = True) -> HttpResponseBase:
    response = name and stored_response(
        name, filename=filename, content_type=content_type, as_attachment=attachment, check_exists=attachment
    )
    if not response:
        raise Http404(_("This document has no such file."))
    patch_cache_control(response, private=True)
    return harden(response)


def _printable_made(request: HttpRequest, document: Document) -> HttpResponseBase | None:
    """Draw the printable on its first request (scoped already); a page saying why when there is none."""
    try:
        document = document_printable(document=document)
    except PrintableNotNow:
        response = _unavailable(request, document, reason="", later=True, status=503)
        response["Retry-After"] = "30"
        return response
    if document.printable_status == Document.PrintableStatus.READY:
        return None
    reason = document.printable_error if document.printable_status == Document.PrintableStatus.FAILED else ""
    return _unavailable(request, document, reason=reason, later=False, status=404)


def _unavailable(request: HttpRequest, document: Document, *, reason: str, later: bool, status: int) -> HttpResponse:
    """The page that says why there is no printable, inside the admin's frame, linking back to the document."""
    context = {
        **admin.site.each_context(request),
        "document": document,
        "document_url": reverse("admin:documents_document_change", args=[document.pk]),
        "document_name": document_label(document),
        "reason": reason,
        "later": later,
    }
    return render(request, "documents/printable_unavailable.html", context, status=status)


@require_safe
def printable_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    if (denied := authorize(request, VIEW_PERMISSION)) is not None:
        return denied
    document = get_object_or_404(visible_documents(request.user), pk=pk)
    if (unavailable := _printable_made(request, document)) is not None:
        return unavailable
    return _file_response(
        document.printable_name,
        filename=_filename(document, f"-{PRINTABLE_SUFFIX}.pdf"),
        content_type="application/pdf",
    )


@require_safe
def xml_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    if (denied := authorize(request, VIEW_PERMISSION)) is not None:
        return denied
    document = get_object_or_404(visible_documents(request.user).select_related("xml_attachment__blob"), pk=pk)
    attachment = document.xml_attachment
    if attachment is None or attachment.blob is None:
        raise Http404(_("This document has no stored XML."))
    return _file_response(
        attachment.blob.storage_name, filename=_filename(document, ".xml"), content_type="application/xml"
    )


@require_safe
def document_preview(request: HttpRequest, pk: int) -> HttpResponseBase:
    if (denied := authorize(request, VIEW_PERMISSION)) is not None:
        return denied
    document = get_object_or_404(visible_documents(request.user), pk=pk)
    if (unavailable := _printable_made(request, document)) is not None:
        return unavailable
    response = _file_response(
        document.preview_name, filename=f"preview-{document.pk}.png", content_type="image/png", attachment=False
    )
    patch_cache_control(response, max_age=PREVIEW_MAX_AGE)
    return response


def zip_response(documents) -> StreamingHttpResponse:
    """A streamed ZIP of `documents` (a queryset, already scoped to the user's mailboxes: iterated lazily,
    in chunks, while streaming)."""
    queryset = documents.select_related("xml_attachment__blob", "pdf_attachment__blob").order_by(
        "issuer_rut", "doc_type", "folio"
    )
    response = StreamingHttpResponse(stream_zip(queryset.iterator(chunk_size=200)), content_type="application/zip")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="documentos-{stamp}.zip"'
    patch_cache_control(response, private=True, no_store=True)
    return harden(response)
