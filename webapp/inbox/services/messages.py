"""Saving a message: stream each attachment into storage, record it, then settle it at the source."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

from django.conf import settings
from django.core.files.storage import storages
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import ngettext

from pipeline import config, containers
from pipeline.content import name_content_mismatch, safe_filename, sniff_content_type
from pipeline.sources.base import IncomingAttachment, MessageGone, MessageRefused, Source
from pipeline.storage import ContentTooLarge, local_copy, save_spooled, spool

from ..models import Attachment, Blob, MailMessage
from .deliveries import delivery_begin, delivery_end, unfinished_messages
from .identity import message_fingerprint, message_identify, message_mark_copy, original_of
from .reading_notes import limit_notes, members_budget, reading_notes
from .runs import fetch_run_count, fetch_run_finish_if_done, mailbox_source
from .transactions import conflict_guard

logger = logging.getLogger(__name__)

#: Types sent to the render queue: XML is parsed as DTE (webapp.documents), whose printable PDF becomes the
#: preview. Kept equal to pipeline.dte.XML_CONTENT_TYPES (lxml stays unloaded here).
RENDERED_TYPES = {"application/xml", "text/xml"}
#: Types whose thumbnail is drawn on its first request (preview_requests.py), not by the render queue.
THUMBNAIL_TYPES = {"application/pdf"}
#: An XML up to this size is parsed by the save actor itself, right after its mail is settled: a DTE
#: of a few documents takes milliseconds, less than its trip through the render queue costs.
RENDER_AT_ONCE_MAX_BYTES = config.get("DTE_PARSE_IN_SAVE_MAX_KB") * 1024


class _AttachmentNames(TypedDict):
    """What an attachment row records about the part, however its content fared."""

    original_filename: str
    filename: str
    content_type: str
    error: str


@dataclass
class SaveOutcome:
    """What saving a message did; `to_render` (for the render queue) and `render_now` want a preview."""

    to_render: list[int] = field(default_factory=list)
    render_now: list[int] = field(default_factory=list)
    quarantined: bool = False
    #: the run's attachment counters for what this save stored, added to the run once at its end
    counts: Counter[str] = field(default_factory=Counter)

    def add_preview(self, attachment: Attachment) -> None:
        """A pending preview: parsed by the save itself when the file is small, else sent to the render queue."""
        if attachment.preview_status != Attachment.PreviewStatus.PENDING:
            return
        small = attachment.blob is not None and attachment.blob.size <= RENDER_AT_ONCE_MAX_BYTES
        (self.render_now if small else self.to_render).append(attachment.pk)


def message_begin_delivery(*, message_id: int) -> MailMessage | None:
    """Count one delivery; quarantine a message whose deliveries keep dying.

    Returns the message when it should be worked on (pending, or stored but not yet settled
    at the source), None when it is done already, belongs to a cancelled run (a later run
    that lists it again takes it over), or must wait: an earlier delivery has not reported
    back, so it is running still or is a suspect, sent again on its own (deliveries.py).
    """
    if not delivery_begin(work=unfinished_messages(), pk=message_id):
        return None
    message = MailMessage.objects.select_related("mailbox").get(pk=message_id)
    if message.delivery_attempts > config.MAX_DELIVERIES:
        last = f" Last error: {message.error}" if message.error else ""
        with translation.override(settings.LANGUAGE_CODE):  # the site's language, whatever this thread served last
            reason = ngettext(
                "Gave up after %(count)d delivery that did not finish (the processing stopped, took too long or kept failing).",
                "Gave up after %(count)d deliveries that did not finish (the processing stopped, took too long or kept failing).",
                config.MAX_DELIVERIES,
            ) % {"count": config.MAX_DELIVERIES}
        message_quarantine(message=message, reason=reason + last)
        message_end_delivery(message_id=message_id)
        return None
    return message


def message_save(*, message: MailMessage, source: Source | None = None) -> SaveOutcome:
    """Store every attachment of `message`, then settle it at the source.

    Idempotent: resumes after the last stored attachment, and a message already stored only
    has its settling at the source tried again.
    """
    source = source or mailbox_source(message.mailbox)
    outcome = SaveOutcome()
    if message.status == MailMessage.Status.PENDING:
        _store_attachments(message, source, outcome)
        if outcome.quarantined:
            return outcome
    source.mark_processed(message.source_id)
    message_mark_settled(message_id=message.pk)
    if message.fetch_run_id:
        fetch_run_finish_if_done(run_id=message.fetch_run_id)
    return outcome


def message_mark_settled(*, message_id: int) -> None:
    MailMessage.objects.filter(pk=message_id).update(settled_at=timezone.now())


def _store_attachments(message: MailMessage, source: Source, outcome: SaveOutcome) -> None:
    done = list(message.attachments.values_list("position", "status"))
    done_positions = {position for position, _ in done}
    # stored by a delivery that stopped or was quarantined: a run counts a message's rows once, when it is
    # processed (their deduplication is not known)
    outcome.counts.update(
        attachments_stored=sum(status == Attachment.Status.STORED for _, status in done),
        attachments_failed=sum(status == Attachment.Status.FAILED for _, status in done),
    )
    try:
        digest = source.content_digest(message.source_id)
        original = original_of(message, digest) if digest else None
        if original is not None:  # known by its bytes before a single attachment is read again
            message_mark_copy(message=message, original=original, fingerprint=digest or "")
            return
        limit = config.MAX_ATTACHMENTS_PER_MESSAGE
        with source.open_message(message.source_id) as reader:
            count = 0
            containers_maybe = bool(done_positions)  # what an earlier delivery stored is not looked at here
            for position, incoming in enumerate(reader.attachments()):
                count += 1
                if position in done_positions or position >= limit:  # past the limit: counted, never opened
                    continue
                attachment = attachment_store(
                    message=message, position=position, incoming=incoming, counts=outcome.counts
                )
                outcome.add_preview(attachment)
                containers_maybe = containers_maybe or (
                    attachment.status == Attachment.Status.STORED
                    and containers.may_be_container(
                        content_type=attachment.content_type, filename=attachment.original_filename
                    )
                )
            notes = list(reader.problems)
        kept = min(count, limit)
        budget = members_budget(room=limit - kept)
        if containers_maybe:
            _open_containers(
                message, first_position=kept, budget=budget, done_positions=done_positions, outcome=outcome
            )
        notes += limit_notes(found=count, kept=kept, budget=budget)
    except MessageGone:
        message_quarantine(
            message=message,
            reason="The message is no longer at the source; it was moved or deleted before it could be read.",
        )
        outcome.quarantined = True
        return
    except MessageRefused as exc:
        message_quarantine(message=message, reason=f"The message was not read to its end: {exc}.")
        outcome.quarantined = True
        return
    fingerprint = digest or message_fingerprint(message=message)
    counts = Counter(outcome.counts)
    original = message_identify(  # the counters once, with the status that says the message is done
        message=message,
        fingerprint=fingerprint,
        along=lambda: _count_attachments(message, Counter(counts)),
        status=MailMessage.Status.PROCESSED,
        processed_at=timezone.now(),
        updated_at=timezone.now(),
        attachment_count=kept,
        error=reading_notes(notes, attachments=count),
    )
    outcome.counts.clear()
    if original is not None:
        # the original's files are rendered already, or will be by its own save
        outcome.to_render, outcome.render_now = [], []


def _count_attachments(message: MailMessage, counts: Counter[str]) -> None:
    """Add what a save stored to its run's counters, in one UPDATE; the tally is spent."""
    if message.fetch_run_id and any(counts.values()):
        fetch_run_count(run_id=message.fetch_run_id, **{name: n for name, n in counts.items() if n})
    counts.clear()


def _open_containers(
    message: MailMessage,
    *,
    first_position: int,
    budget: containers.Budget,
    done_positions: set[int],
    outcome: SaveOutcome,
) -> None:
    """Store the members of every container among the mail's own parts, each linked to its container.

    Members are numbered after all the mail's own parts, in the order they are found (depth
    first), so a resumed save finds the same member at the same position. One budget serves
    all the mail's containers.
    """
    tops = message.attachments.filter(
        container__isnull=True, status=Attachment.Status.STORED, position__lt=first_position
    )
    position = first_position
    for top in tops.select_related("blob").order_by("position"):
        if containers.may_be_container(content_type=top.content_type, filename=top.original_filename):
            position = _open_container(
                message,
                top,
                depth=1,
                position=position,
                budget=budget,
                done=done_positions,
                outcome=outcome,
            )


def _open_container(
    message: MailMessage,
    container: Attachment,
    *,
    depth: int,
    position: int,
    budget: containers.Budget,
    done: set[int],
    outcome: SaveOutcome,
) -> int:
    """Store the members of `container` (and of containers inside it) from `position` on; returns the next free one."""
    assert container.blob is not None
    notes: list[str] = []
    with local_copy(storages["default"], container.blob.storage_name, directory=config.spool_dir()) as path:
        kind = containers.container_kind(
            path, content_type=container.content_type, filename=container.original_filename
        )
        if kind is None:
            return position
        if refusal := containers.depth_refusal(depth):
            _attachment_note(container, [refusal])
            return position
        for incoming in containers.members(path, kind=kind, notes=notes, budget=budget):
            if position in done:
                member = Attachment.objects.select_related("blob").get(message=message, position=position)
            else:
                member = attachment_store(
                    message=message, position=position, incoming=incoming, container=container, counts=outcome.counts
                )
                outcome.add_preview(member)
            position += 1
            if member.status == Attachment.Status.STORED and containers.may_be_container(
                content_type=member.content_type, filename=member.original_filename
            ):
                position = _open_container(
                    message, member, depth=depth + 1, position=position, budget=budget, done=done, outcome=outcome
                )
    _attachment_note(container, notes)
    return position


def _attachment_note(attachment: Attachment, notes: list[str]) -> None:
    """Add what opening a container left out to its error, once (a resumed save finds the same)."""
    lines = [line for line in attachment.error.split("; ") if line]
    lines += [note for note in notes if note not in lines]
    error = "; ".join(lines)[:5000]
    if error != attachment.error:
        Attachment.objects.filter(pk=attachment.pk).update(error=error)
        attachment.error = error


def message_quarantine(*, message: MailMessage, reason: str, source: Source | None = None) -> bool:
    """Give up on a pending message, with the reason, and tell its source; False when it was not pending."""
    with transaction.atomic():
        updated = MailMessage.objects.filter(pk=message.pk, status=MailMessage.Status.PENDING).update(
            status=MailMessage.Status.QUARANTINED, error=reason[:5000], updated_at=timezone.now()
        )
    if not updated:
        return False
    logger.warning("message %s quarantined: %s", message.pk, reason)
    if message.fetch_run_id:
        fetch_run_count(run_id=message.fetch_run_id, messages_failed=1)
    try:
        (source or mailbox_source(message.mailbox)).mark_failed(message.source_id, reason)
        message_mark_settled(message_id=message.pk)
    except Exception:  # the row says quarantined; the next listing settles the source
        logger.exception("could not mark message %s as failed at its source", message.pk)
    if message.fetch_run_id:
        fetch_run_finish_if_done(run_id=message.fetch_run_id)
    return True


def message_end_delivery(*, message_id: int) -> None:
    """The delivery reported back; it stays counted (deliveries.py)."""
    delivery_end(model=MailMessage, pk=message_id)


def message_record_error(*, message_id: int, error: str) -> None:
    """The delivery ended on an error of the message's own: recorded, and counted toward quarantine."""
    delivery_end(model=MailMessage, pk=message_id, error=error[:5000])


def message_release_delivery(*, message_id: int, error: str) -> None:
    """A delivery that ended on an outage (source, database, network) does not count toward quarantine.

    Only deliveries that never report back (a crash, a kill, a time limit) or fail on the
    message itself bring it closer to quarantine.
    """
    delivery_end(model=MailMessage, pk=message_id, uncount=True, error=f"will retry after {error}"[:5000])


def attachment_store(
    *,
    message: MailMessage,
    position: int,
    incoming: IncomingAttachment,
    container: Attachment | None = None,
    counts: Counter[str] | None = None,
) -> Attachment:
    """Stream one attachment (or a member of `container`) into storage, once per distinct content, and record it.

    It is counted in `counts` (the caller adds them to the run), else in its run's counters at once.
    """
    fallback = f"attachment-{position + 1}"
    row: _AttachmentNames = {
        "original_filename": (incoming.filename or "")[:1024],
        "filename": safe_filename(incoming.filename, fallback=fallback),
        "content_type": incoming.content_type[:255],
        "error": "; ".join(incoming.problems)[:5000],
    }
    if incoming.skipped_reason or incoming.open_chunks is None:
        return _attachment_create(
            message,
            position,
            counts=counts,
            status=Attachment.Status.SKIPPED,
            container=container,
            **(row | {"error": incoming.skipped_reason or "nothing to read"}),
        )
    try:
        with spool(
            incoming.open_chunks(), max_bytes=config.MAX_ATTACHMENT_BYTES, directory=config.spool_dir()
        ) as spooled:
            if spooled.size == 0:
                return _attachment_create(
                    message,
                    position,
                    counts=counts,
                    status=Attachment.Status.SKIPPED,
                    container=container,
                    **(row | {"error": "empty attachment (0 bytes)"}),
                )
            content_type = sniff_content_type(spooled.head, declared=incoming.content_type, filename=row["filename"])
            blob, created = _blob_for(spooled, content_type)
    except ContentTooLarge as exc:
        return _attachment_create(
            message,
            position,
            counts=counts,
            status=Attachment.Status.FAILED,
            container=container,
            **(row | {"error": f"not stored: attachment {exc}"}),
        )
    except containers.MemberRefused as exc:
        return _attachment_create(
            message,
            position,
            counts=counts,
            status=Attachment.Status.FAILED,
            container=container,
            **(row | {"error": f"not stored: {exc}"}),
        )

    preview = _preview_status(blob.content_type)
    # the reader finds problems such as a truncated part only once it has read it
    notes = [*incoming.problems, name_content_mismatch(row["filename"], content_type)]
    return _attachment_create(
        message,
        position,
        counts=counts,
        status=Attachment.Status.STORED,
        container=container,
        blob=blob,
        deduplicated=not created,
        preview_status=preview,
        **(row | {"content_type": blob.content_type, "error": "; ".join(filter(None, notes))[:5000]}),
    )


def _preview_status(content_type: str) -> str:
    if content_type in RENDERED_TYPES:
        return Attachment.PreviewStatus.PENDING
    if content_type in THUMBNAIL_TYPES:
        return Attachment.PreviewStatus.ON_REQUEST
    return Attachment.PreviewStatus.NONE


def _blob_for(spooled, content_type: str) -> tuple[Blob, bool]:
    """The Blob of this content, storing the object first when it is new.

    The row is written only after the object is complete in storage, so a Blob row
    always means a stored object.
    """
    blob = Blob.objects.filter(sha256=spooled.sha256).first()
    if blob is not None:
        return blob, False
    name = save_spooled(storages["default"], spooled)
    try:
        with conflict_guard():
            return Blob.objects.create(
                sha256=spooled.sha256, size=spooled.size, content_type=content_type, storage_name=name
            ), True
    except IntegrityError:  # another thread stored the same content at the same time
        return Blob.objects.get(sha256=spooled.sha256), False


def _attachment_create(
    message: MailMessage,
    position: int,
    *,
    status: str,
    container: Attachment | None = None,
    blob: Blob | None = None,
    deduplicated: bool = False,
    preview_status: str = Attachment.PreviewStatus.NONE,
    counts: Counter[str] | None = None,
    **names: Unpack[_AttachmentNames],
) -> Attachment:
    try:
        with conflict_guard():
            attachment = Attachment.objects.create(
                message=message,
                position=position,
                status=status,
                container=container,
                blob=blob,
                preview_status=preview_status,
                **names,
            )
    except IntegrityError:
        return Attachment.objects.get(message=message, position=position)
    counted = Counter(
        attachments_stored=int(status == Attachment.Status.STORED),
        attachments_deduplicated=int(deduplicated),
        attachments_failed=int(status == Attachment.Status.FAILED),
    )
    if counts is not None:
        counts.update(counted)
    else:
        _count_attachments(message, counted)
    return attachment
