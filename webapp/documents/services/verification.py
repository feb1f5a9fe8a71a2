"""Every copy checked again: its stored XML parsed anew, its TED and signature checked, the choice made again.

Reads only: what it finds is reported (manage.py verify_documents); `reprocess_documents` records it.
Streamed: Documents are taken in batches, and each copy's XML is parsed in the sandbox on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from pipeline.dte import ParsedDocument
from pipeline.dte.fingerprint import content_hash
from webapp.inbox.models import Attachment

from ..models import CheckState, Document, DocumentSource
from .copies import chosen_of, in_conflict
from .documents import document_in, is_xml_attachment, parsed_attachment

logger = logging.getLogger(__name__)

#: Documents whose copies are looked at per batch of queries.
BATCH = 200

#: The TED states of a chosen copy that make `verify_documents` exit 1.
TED_FAILS = frozenset({CheckState.INVALID, CheckState.MISSING})


@dataclass
class CopyCheck:
    attachment_id: int
    mailbox_id: int
    ted: str
    ted_error: str
    signature: str
    signature_error: str
    content_hash: str
    #: Whether the copy was chosen, as recorded; `chosen` is the choice made again.
    was_chosen: bool
    chosen: bool = False
    #: Why its stored XML could not be read again (its recorded states are shown instead).
    unreadable: str = ""


@dataclass
class DocumentCheck:
    document: Document
    copies: list[CopyCheck] = field(default_factory=list)

    @property
    def chosen(self) -> CopyCheck | None:
        return next((copy for copy in self.copies if copy.chosen), None)

    @property
    def conflict(self) -> bool:
        return in_conflict(self.copies)

    @property
    def ted(self) -> str:
        return self.chosen.ted if self.chosen else CheckState.UNCHECKED

    @property
    def signature(self) -> str:
        return self.chosen.signature if self.chosen else CheckState.UNCHECKED

    @property
    def ted_fails(self) -> bool:
        """The chosen copy's TED does not verify: what the Document says is not what the issuer stamped."""
        return self.ted in TED_FAILS

    @property
    def choice_changed(self) -> bool:
        return any(copy.chosen != copy.was_chosen for copy in self.copies)

    @property
    def problems(self) -> list[str]:
        """What is wrong with the document, in English, for the report; empty when nothing is."""
        found = []
        if self.ted_fails:
            found.append(f"the chosen copy's TED is {self.ted}")
        if self.conflict:
            found.append("its copies say different things")
        if any(copy.ted in TED_FAILS for copy in self.copies if not copy.chosen):
            found.append("a copy's TED does not verify")
        if any(copy.signature == CheckState.INVALID for copy in self.copies):
            found.append("a copy's signature does not verify")
        if self.choice_changed:
            found.append("the chosen copy is another one now (reprocess_documents records it)")
        if any(copy.unreadable for copy in self.copies):
            found.append("a copy's stored XML could not be read again")
        return found


def verify_documents() -> Iterator[DocumentCheck]:
    """Every Document, in id order, with its copies checked again and chosen again."""
    last = 0
    while True:
        batch = list(Document.objects.filter(pk__gt=last).order_by("pk")[:BATCH])
        if not batch:
            return
        last = batch[-1].pk
        copies: dict[int, list[DocumentSource]] = {}
        sources = DocumentSource.objects.filter(document__in=batch).select_related(
            "attachment__blob", "attachment__message"
        )
        for source in sources.order_by("document_id", "attachment_id"):
            copies.setdefault(source.document_id, []).append(source)
        for document in batch:
            yield document_verify(document, copies.get(document.pk, []))


def document_verify(document: Document, sources: list[DocumentSource]) -> DocumentCheck:
    checked = DocumentCheck(document=document, copies=[_copy_verify(document, source) for source in sources])
    if (chosen := chosen_of(checked.copies)) is not None:
        chosen.chosen = True
    return checked


def _copy_verify(document: Document, source: DocumentSource) -> CopyCheck:
    check = CopyCheck(
        attachment_id=source.attachment_id,
        mailbox_id=source.attachment.message.mailbox_id,
        ted=source.ted,
        ted_error=source.ted_error,
        signature=source.signature,
        signature_error=source.signature_error,
        content_hash=source.content_hash,
        was_chosen=source.chosen,
    )
    parsed, why = _reread(document, source)
    if parsed is None:
        check.unreadable = why
        return check
    check.ted, check.ted_error = parsed.ted_check.state.value, parsed.ted_check.reason
    check.signature, check.signature_error = parsed.signature_check.state.value, parsed.signature_check.reason
    check.content_hash = content_hash(parsed)
    return check


def _reread(document: Document, source: DocumentSource) -> tuple[ParsedDocument | None, str]:
    attachment: Attachment = source.attachment
    if not is_xml_attachment(attachment):
        return None, "no stored XML"
    try:
        parsed = parsed_attachment(attachment)
    except Exception as exc:  # storage: the report says so and goes on with the other copies
        logger.warning("copy %s of document %s not read again: %s", attachment.pk, document.pk, exc)
        return None, f"{type(exc).__name__}: {exc}"
    found = document_in(parsed, document, position=source.position)
    if found is None:
        return None, "; ".join(parsed.problems) or "the file no longer holds this document"
    return found, ""
