"""Is every printable there? A Document whose printable is ready has its PDF and thumbnail in storage.

One that is missing is made again, not fetched: the Document goes back to pending with the XML
attachments it was read from, and the tick's catch-up sends those to the render actor, which
parses them and renders what is pending (webapp/inbox/services/integrity.py checks the Blobs and
the attachments' previews).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from webapp.inbox.services.integrity import DerivedProblem, previews_reset, stored_file_checker

from ..models import Document, DocumentSource


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
            yield DerivedProblem(f"{label} of document {document_id}", name, problem, reset=reset)


def printables_reset(*, document_ids: list[int]) -> int:
    """Printables to make again: the Documents pending, and every XML attachment they were read from.

    Each of those attachments is parsed again, so each takes the new thumbnail as its preview
    (a printable made again may differ in its bytes, and so in its name). Returns the Documents reset.
    """
    sources = DocumentSource.objects.filter(document_id__in=document_ids).values_list("attachment_id", flat=True)
    firsts = Document.objects.filter(pk__in=document_ids, xml_attachment__isnull=False).values_list(
        "xml_attachment_id", flat=True
    )
    previews_reset(attachment_ids=sorted({*sources, *firsts}))
    return Document.objects.filter(pk__in=document_ids).update(
        printable_status=Document.PrintableStatus.PENDING, printable_error=""
    )
