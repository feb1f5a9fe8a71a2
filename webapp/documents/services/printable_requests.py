"""A Document's printable PDF and its thumbnail, drawn on their first request and kept.

The pipeline records a lone DTE's printable as ON_REQUEST (documents.py): drawing it was most of a
mail's CPU, and most printables are never looked at. (An envelope's are drawn by the worker from its
one parse: here each would parse the whole envelope again.) The first page or download that needs one
(the printable and thumbnail downloads, which the admin's list and page show, the ZIP) calls
`document_printable`: the stored XML is parsed again in the sandbox, as the pipeline parses it, its
DTE is drawn by the same sandboxed call (pipeline/render/calls.py, with its limits and deadline),
stored under its hash's name (printables.py), and the row records READY, or FAILED with the reason.

Idempotent: the drawing is deterministic, so two first requests at once (two web processes) draw
the same bytes, store one object under one name and write the same row; within a process they
take turns, and the second finds the first one's result.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from pipeline.dte import Kind, ParsedDocument
from webapp.inbox.models import Attachment
from webapp.turns import NoDrawingSlot, drawing_slot, turn

from ..models import Document, DocumentSource
from .documents import document_in, is_xml_attachment, parsed_attachment
from .printables import document_render

logger = logging.getLogger(__name__)

#: The states whose printable is drawn when it is asked for (PENDING: recorded before the pipeline stopped drawing).
TO_MAKE = (Document.PrintableStatus.ON_REQUEST, Document.PrintableStatus.PENDING)
_FIELDS = ("printable_status", "printable_name", "printable_size", "preview_name", "printable_error")


class PrintableNotNow(Exception):
    """The printable could not be made now (storage, database, every drawing slot busy); nothing was recorded,
    a later request tries again."""


def printable_offered(document: Document) -> bool:
    """Whether a page may link the printable: made, or made when asked; a FAILED one shows its reason instead."""
    return document.printable_status == Document.PrintableStatus.READY or (
        document.printable_status in TO_MAKE and document.xml_attachment_id is not None
    )


def document_printable(*, document: Document) -> Document:
    """The Document with its printable READY, or FAILED with why: drawn now when it was not yet.

    Call with a Document the user may see (the views scope it first). Raises PrintableNotNow when
    the work could not be done now; the row is then left as it was.
    """
    if document.printable_status not in TO_MAKE:
        return document
    with turn(("printable", document.pk)):
        for _ in range(2):  # a second time only when the worker chose another copy while this one drew
            if not _refresh(document):
                return document
            if document.printable_status not in TO_MAKE:
                break
            try:
                with drawing_slot():
                    _make(document)
            except (OSError, PrintableNotNow, NoDrawingSlot) as exc:
                logger.warning("printable of document %s not made now: %s", document.pk, exc)
                raise PrintableNotNow(str(exc)) from exc
        _previews_of_copies(document)
    return document


def _make(document: Document) -> None:
    """Draw and record; the instance follows the row (document_render records only what was drawn from its copy)."""
    parsed, problem = _parsed_again(document)
    if parsed is None:
        logger.warning("no printable for document %s: %s", document.pk, problem)
        Document.objects.filter(
            pk=document.pk, xml_attachment_id=document.xml_attachment_id, printable_status__in=TO_MAKE
        ).update(printable_status=Document.PrintableStatus.FAILED, printable_error=problem[:2000])
        _refresh(document)
        return
    rendered = document_render(document=document, parsed=parsed)
    for field in _FIELDS:
        setattr(document, field, getattr(rendered, field))


def _parsed_again(document: Document) -> tuple[ParsedDocument | None, str]:
    """The DTE the Document is read from, parsed again from its stored XML in the sandbox; else (None, why)."""
    attachment = (
        Attachment.objects.select_related("blob", "message").filter(pk=document.xml_attachment_id).first()
        if document.xml_attachment_id is not None
        else None
    )
    if attachment is None or not is_xml_attachment(attachment):
        return None, "its XML is not stored; nothing to print from"
    parsed_file = parsed_attachment(attachment)  # OSError: not in storage now (verify_storage --repair)
    if parsed_file.kind is Kind.INVALID:
        return None, "; ".join(parsed_file.problems) or "its stored XML no longer reads"
    position = (
        DocumentSource.objects.filter(document_id=document.pk, attachment_id=attachment.pk)
        .values_list("position", flat=True)
        .first()
    )
    parsed = document_in(parsed_file, document, position=position or 0)
    if parsed is None:
        return None, "its stored XML no longer holds this document"
    return parsed, ""


def _refresh(document: Document) -> bool:
    row = Document.objects.filter(pk=document.pk).values(*_FIELDS, "xml_attachment_id").first()
    if row is None:
        return False
    for field, value in row.items():
        setattr(document, field, value)
    return True


def _previews_of_copies(document: Document) -> None:
    """The XML attachments that carried the Document and wait for a preview take its thumbnail (or its failure),
    as they took it when the pipeline drew it: the preview of an XML is its first printable made."""
    if document.printable_status not in (Document.PrintableStatus.READY, Document.PrintableStatus.FAILED):
        return
    copies = {
        *DocumentSource.objects.filter(document_id=document.pk).values_list("attachment_id", flat=True),
        *([document.xml_attachment_id] if document.xml_attachment_id is not None else []),
    }
    attachments = Attachment.objects.filter(pk__in=copies)
    if document.printable_status == Document.PrintableStatus.READY:
        attachments.filter(preview_status__in=[Attachment.PreviewStatus.NONE, Attachment.PreviewStatus.FAILED]).update(
            preview_status=Attachment.PreviewStatus.READY,
            preview_name=document.preview_name,
            preview_error="",
            updated_at=timezone.now(),
        )
    else:  # a cesión (AEC) is no document to print: its DTE's failure is no failure of the file
        attachments.filter(preview_status=Attachment.PreviewStatus.NONE).exclude(
            xml_classification__kind=Kind.ASSIGNMENT.value
        ).update(
            preview_status=Attachment.PreviewStatus.FAILED,
            preview_error=document.printable_error[:2000],
            updated_at=timezone.now(),
        )
