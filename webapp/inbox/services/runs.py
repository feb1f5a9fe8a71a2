"""Fetch runs: create one per mailbox and slot, list the source, finish when every message is done."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from pipeline import config
from pipeline.sources import open_source
from pipeline.sources.base import MessageSummary, Source

from ..models import FetchRun, Mailbox, MailMessage

logger = logging.getLogger(__name__)

#: A run that never finished listing in this time was interrupted (its worker died).
LISTING_DEADLINE = dt.timedelta(minutes=30)

_COUNTERS = {"messages_seen", "messages_new", "attachments_stored", "attachments_deduplicated",
             "attachments_failed", "messages_failed"}


def mailbox_source(mailbox: Mailbox) -> Source:
    return open_source(mailbox.kind, mailbox.settings)


def active_run(mailbox: Mailbox) -> FetchRun | None:
    """The run still working on this mailbox, if any; an interrupted one is closed on the way."""
    run = mailbox.runs.filter(status__in=FetchRun.ACTIVE_STATUSES).order_by("-created_at").first()
    if run is None:
        return None
    started = run.started_at or run.created_at
    if run.listed_at is None and timezone.now() - started > LISTING_DEADLINE:
        fetch_run_fail(run=run, error="interrupted: no worker finished listing this mailbox in time")
        return None
    return run


def fetch_run_create(*, mailbox: Mailbox, trigger: str) -> FetchRun | None:
    """A new PENDING run, or None while another run for this mailbox is still active."""
    with transaction.atomic():
        if active_run(mailbox) is not None:
            return None
        return FetchRun.objects.create(mailbox=mailbox, trigger=trigger)


def fetch_run_count(*, run_id: int, **increments: int) -> None:
    unknown = set(increments) - _COUNTERS
    if unknown:
        raise ValueError(f"unknown counters {unknown}")
    FetchRun.objects.filter(pk=run_id).update(**{name: F(name) + n for name, n in increments.items()})


def fetch_run_fail(*, run: FetchRun, error: str) -> None:
    FetchRun.objects.filter(pk=run.pk, status__in=FetchRun.ACTIVE_STATUSES).update(
        status=FetchRun.Status.FAILED, error=error[:5000], finished_at=timezone.now()
    )


def fetch_run_skip(*, run: FetchRun, reason: str) -> None:
    FetchRun.objects.filter(pk=run.pk, status=FetchRun.Status.PENDING).update(
        status=FetchRun.Status.SKIPPED, error=reason, finished_at=timezone.now()
    )


def fetch_run_execute(*, run: FetchRun, on_new_message: Callable[[int], object], source: Source | None = None) -> None:
    """List the mailbox and record every message; each new one is handed to `on_new_message` once committed."""
    source = source or mailbox_source(run.mailbox)
    FetchRun.objects.filter(pk=run.pk).update(status=FetchRun.Status.RUNNING, started_at=timezone.now(), error="")
    for summary in source.list_messages():
        message, created = message_record(mailbox=run.mailbox, run=run, summary=summary)
        fetch_run_count(run_id=run.pk, messages_seen=1, messages_new=int(created))
        if created:
            on_new_message(message.pk)
        else:
            _settle_at_source(source, message, summary.source_id)
    FetchRun.objects.filter(pk=run.pk).update(listed_at=timezone.now())
    fetch_run_finish_if_done(run_id=run.pk)


def message_record(*, mailbox: Mailbox, run: FetchRun, summary: MessageSummary) -> tuple[MailMessage, bool]:
    """The message row for a listed message, created once per source id.

    A copy of a mail we already have (same Internet Message-ID under another source id)
    creates no row: the original is returned, and the copy is settled at the source like it.
    """
    existing = MailMessage.objects.filter(mailbox=mailbox, source_id=summary.source_id).first()
    if existing is not None:
        return existing, False
    if summary.internet_message_id:
        original = MailMessage.objects.filter(mailbox=mailbox, internet_message_id=summary.internet_message_id).first()
        if original is not None:
            return original, False
    try:
        with transaction.atomic():
            message = MailMessage.objects.create(
                mailbox=mailbox,
                fetch_run=run,
                source_id=summary.source_id,
                internet_message_id=summary.internet_message_id[:998],
                sender=summary.sender[:998],
                subject=summary.subject[:998],
                received_at=summary.received_at,
            )
        return message, True
    except IntegrityError:
        return MailMessage.objects.get(mailbox=mailbox, source_id=summary.source_id), False


def _settle_at_source(source: Source, message: MailMessage, source_id: str) -> None:
    """A message still at the source whose fate we already know: finish moving it."""
    if message.status == MailMessage.Status.PROCESSED:
        source.mark_processed(source_id)
    elif message.status == MailMessage.Status.QUARANTINED:
        source.mark_failed(source_id, message.error)


def fetch_run_finish_if_done(*, run_id: int) -> bool:
    """Close a run once its listing is done and none of its messages is pending."""
    with transaction.atomic():
        run = FetchRun.objects.select_for_update().get(pk=run_id)
        if run.status != FetchRun.Status.RUNNING or run.listed_at is None:
            return run.status not in FetchRun.ACTIVE_STATUSES
        if run.messages.filter(status=MailMessage.Status.PENDING).exists():
            return False
        has_errors = run.attachments_failed or run.messages_failed
        run.status = FetchRun.Status.COMPLETED_WITH_ERRORS if has_errors else FetchRun.Status.COMPLETED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
    logger.info("run %s of %s finished: %s", run.pk, run.mailbox_id, run.status)
    return True


def stale_before() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=config.STALE_AFTER_SECONDS)
