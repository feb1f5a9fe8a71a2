"""Is every printable there? A Document whose printable is ready has its PDF and thumbnail in storage.

One that is missing is made again, not fetched: the Document goes back to "on request", and the
XML attachments whose preview was its thumbnail wait with it; its next request draws it again
(printable_requests.py). A printable still to be made on request has nothing in storage to check.
(webapp/inbox/services/integrity.py checks the Blobs and the attachments' previews.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.utils import timezone

from webapp.inbox.models import Attachment
from webapp.inbox.services.integrity import DerivedProblem, stored_file_checker

from ..models import Document, DocumentSource

#: What --repair does with a missing printable.
REMEDY = "reset: made again on its next request"


def verify_printables(*, reset: bool = False, check: Callable[[str], str] | None = None) -> Iterator[DerivedProblem]:
    """Every ready Document whose printable PDF or thumbnail is not in storage; with `reset`, made again."""
    check = check or stored_file_checker()
    ready = Document.objects.filter(printable_status=Document.PrintableStatus.READY)
    rows = ready.order_by("pk").values_list("pk", "printable_name", "preview_name").iterator(chunk_size=500)
    for document_id, printable, thumbnail in rows:
        files = (("printable", printable), ("thumbnail", thumbnail))
        missing = [(label, name, problem) for label, name in files if name and (problem := check(name))]
        if not missing:
            continue
        if reset:
            printables_reset(document_ids=[document_id])
        for label, name, problem in missing:
            yield DerivedProblem(f"{label} of document {document_id}", name, problem, reset=reset, remedy=REMEDY)


def printables_reset(*, document_ids: list[int]) -> int:
    """Printables to make again: the Documents back to "on request", and the XML attachments whose preview
    was their thumbnail waiting with them (a printable made again takes its own name). Returns the Documents reset.
    """
    thumbnails = (
        Document.objects.filter(pk__in=document_ids).exclude(preview_name="").values_list("preview_name", flat=True)
    )
    sources = DocumentSource.objects.filter(document_id__in=document_ids).values_list("attachment_id", flat=True)
    firsts = Document.objects.filter(pk__in=document_ids, xml_attachment__isnull=False).values_list(
        "xml_attachment_id", flat=True
    )
    Attachment.objects.filter(
        pk__in={*sources, *firsts}, preview_status=Attachment.PreviewStatus.READY, preview_name__in=list(thumbnails)
    ).update(preview_status=Attachment.PreviewStatus.NONE, preview_name="", preview_error="", updated_at=timezone.now())
    return Document.objects.filter(pk__in=document_ids).update(
        printable_status=Document.PrintableStatus.ON_REQUEST,
        printable_name="",
        printable_size=None,
        preview_name="",
        printable_error="",
    )
