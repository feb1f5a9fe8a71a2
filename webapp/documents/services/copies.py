"""The copies of a Document: each XML that carried it, with its checks, and which one it is read from.

The chosen copy is the first to arrive (by attachment id) whose TED verifies, else the first to
arrive: a forged or edited copy that comes first gives way to the genuine one whenever it arrives.
Copies that say different things (their content hashes differ) are a conflict; identical resends
are not.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, TypeVar

from django.utils import timezone

from pipeline.dte import ParsedDocument
from pipeline.dte.fingerprint import content_hash, content_summary
from webapp.inbox.models import Attachment

from ..models import CheckState, Document, DocumentSource

logger = logging.getLogger(__name__)


class _Copy(Protocol):
    @property
    def attachment_id(self) -> int: ...
    @property
    def ted(self) -> str: ...
    @property
    def content_hash(self) -> str: ...


CopyT = TypeVar("CopyT", bound=_Copy)

_REASON_LENGTH = DocumentSource._meta.get_field("ted_error").max_length or 500


def copy_values(parsed: ParsedDocument) -> dict[str, object]:
    """What a copy records of `parsed`: its checks, its content hash and what it says."""
    return {
        "position": parsed.position,
        "ted": CheckState(parsed.ted_check.state.value),
        "ted_error": parsed.ted_check.reason[:_REASON_LENGTH],
        "signature": CheckState(parsed.signature_check.state.value),
        "signature_error": parsed.signature_check.reason[:_REASON_LENGTH],
        "content_hash": content_hash(parsed),
        "content": content_summary(parsed),
    }


def copy_record(
    *, document: Document, attachment: Attachment, parsed: ParsedDocument, first: bool = False
) -> DocumentSource:
    """The copy of `document` that `attachment` carries, with what `parsed` says of it.

    Recorded again only when that changed: the same attachment twice changes nothing, its check time included.
    `first`: the Document was created from this copy a moment ago, in this transaction: its only copy, the chosen one.
    """
    values = copy_values(parsed)
    copy = None if first else DocumentSource.objects.filter(document=document, attachment=attachment).first()
    if copy is None:
        return DocumentSource.objects.create(
            document=document, attachment=attachment, **values, chosen=first, checked_at=timezone.now()
        )
    if any(getattr(copy, name) != value for name, value in values.items()):
        values["checked_at"] = timezone.now()
        DocumentSource.objects.filter(pk=copy.pk).update(**values)
        for name, value in values.items():
            setattr(copy, name, value)
    return copy


def chosen_of(copies: Sequence[CopyT]) -> CopyT | None:
    """The copy a Document is read from: the first (by arrival) whose TED is valid, else the first."""
    ordered = sorted(copies, key=lambda copy: copy.attachment_id)
    return next((copy for copy in ordered if copy.ted == CheckState.VALID), ordered[0] if ordered else None)


def in_conflict(copies: Sequence[_Copy]) -> bool:
    """Whether the copies say different things: more than one content hash among them.

    A copy without a hash (recorded before copies had one, not read again since) is not compared.
    """
    return len({copy.content_hash for copy in copies if copy.content_hash}) > 1


def copies_settle(document: Document) -> DocumentSource | None:
    """Mark the chosen copy of `document` and give the Document its states and conflict; returns the chosen.

    Call inside the transaction that recorded the copy, with the Document locked.
    """
    copies = list(document.sources.all())
    chosen = chosen_of(copies)
    conflict = in_conflict(copies)
    if stale := [copy.pk for copy in copies if copy.chosen and copy is not chosen]:
        DocumentSource.objects.filter(pk__in=stale).update(chosen=False)
    if chosen is not None and not chosen.chosen:
        DocumentSource.objects.filter(pk=chosen.pk).update(chosen=True)
        chosen.chosen = True
    states = {
        "ted": chosen.ted if chosen else CheckState.UNCHECKED,
        "signature": chosen.signature if chosen else CheckState.UNCHECKED,
        "conflict": conflict,
    }
    if conflict and not document.conflict:
        logger.warning(
            "conflicting copies of %s %s folio %s in mailbox %s: attachments %s say different things",
            document.issuer_rut,
            document.doc_type,
            document.folio,
            document.mailbox_id,
            ", ".join(str(copy.attachment_id) for copy in sorted(copies, key=lambda copy: copy.attachment_id)),
        )
    if any(getattr(document, name) != value for name, value in states.items()):
        Document.objects.filter(pk=document.pk).update(**states)
        for name, value in states.items():
            setattr(document, name, value)
    return chosen
