"""What a Document's first request does to its printable (webapp/documents/services/printable_requests.py).

The pipeline no longer draws printables: a test that reads one makes it as a download would.
"""

from __future__ import annotations

from collections.abc import Iterable

from webapp.documents.models import Document
from webapp.documents.services.printable_requests import document_printable


def make_printables(documents: Iterable[Document] | None = None) -> list[Document]:
    """Each Document's printable made on request (every Document, in id order, by default); the rows after it."""
    chosen = Document.objects.order_by("pk") if documents is None else documents
    return [document_printable(document=document) for document in chosen]
