"""The printable PDF of a Document and its thumbnail, stored under hash-derived names.

Drawn on a Document's first request (printable_requests.py), not by the pipeline: the drawing is
most of a mail's CPU, and most printables are never asked for.
"""

from __future__ import annotations

import hashlib
import logging

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db.models import QuerySet

from pipeline.dte import ParsedDocument
from pipeline.storage import preview_name

from ..models import Document

logger = logging.getLogger(__name__)


def printable_name(sha256: str) -> str:
    return f"printables/{sha256[:2]}/{sha256}.pdf"


def _save_once(name: str, data: bytes) -> None:
    storage = storages["default"]
    if storage.exists(name):  # the name is the content's hash: present means identical
        return
    saved = storage.save(name, ContentFile(data, name=name))
    if saved != name:  # another request stored the same bytes meanwhile, and storage chose another name: one copy
        storage.delete(saved)


def _still_read_from(document: Document) -> QuerySet[Document]:
    """The Document, if it is still read from the copy it was rendered from: when another worker thread
    chose another copy meanwhile, that copy's own processing prints it, and this print is not recorded."""
    return Document.objects.filter(pk=document.pk, xml_attachment_id=document.xml_attachment_id)


def document_render(*, document: Document, parsed: ParsedDocument) -> Document:
    """Render, store and record; a document that cannot be printed is recorded as FAILED with why."""
    from pipeline.render.calls import (  # reportlab/PDFium only in the sandbox's child
        PrintableError,
        RenderError,
        printable_pdf_and_thumbnail,
    )

    try:
        pdf, png = printable_pdf_and_thumbnail(parsed)
    except (PrintableError, RenderError) as exc:
        logger.warning("no printable for document %s: %s", document.pk, exc)
        # never over a READY one: another process may have drawn it meanwhile, and FAILED is not tried again
        _still_read_from(document).exclude(printable_status=Document.PrintableStatus.READY).update(
            printable_status=Document.PrintableStatus.FAILED, printable_error=str(exc)[:2000]
        )
        document.refresh_from_db()
        return document
    sha256 = hashlib.sha256(pdf).hexdigest()
    name, thumb = printable_name(sha256), preview_name(sha256)
    _save_once(name, pdf)
    _save_once(thumb, png)
    recorded = {
        "printable_status": Document.PrintableStatus.READY,
        "printable_name": name,
        "printable_size": len(pdf),
        "preview_name": thumb,
        "printable_error": "",
    }
    if _still_read_from(document).update(**recorded):
        for field, value in recorded.items():
            setattr(document, field, value)
    else:  # another copy was chosen meanwhile: the row says what its own processing recorded
        document.refresh_from_db()
    return document
