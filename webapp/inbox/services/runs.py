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
from .transactions import conflict_guard

logger = logging.getLogger(__name__)

#: A message whose fate was recorded this recently is still being moved by its own delivery.
SETTLE_GRACE = dt.timedelta(minutes=2)

#: A run that never finished listing in this time was interrupted (its worker died).
LISTING_DEADLINE = dt.timedelta(minutes=30)
#: A listing looks whether its run was cancelled every this many messages.
CANCEL_CHECK_EVERY = 20

_COUNTERS = {
    "messages_seen",
    "messages_new",
    "attachments_stored",
    "attachments_deduplicated",
    "attachments_failed",
    "messages_failed",
}


def mailbox_source(mailbox: Mailbox) -> Source:
    return open_source(mailbox.kind, mailbox.settings)


def active_run(mailbox: Mailbox) -> FetchRun | None:
    """The run still listing this mailbox, if any; an interrupted one is closed on the way.

    A run that has finished listing no longer holds the mailbox: the messages it still has
    pending are the catch-up's business, and new mail must not wait for them.
    """
    run = (
        mailbox.runs.filter(status__in=FetchRun.ACTIVE_STATUSES, listed_at__isnull=True).order_by("-created_at").first()
    )
    if run is None:
        return None
    started = run.started_at or run.created_at
    if timezone.now() - started > LISTING_DEADLINE:
        fetch_run_fail(run=run, error="interrupted: no worker finished listing this mailbox in time")
        return None
    return run


def fetch_run_create(*, mailbox: Mailbox, trigger: str, options: dict | None = None) -> FetchRun | None:
    """A new PENDING run, or None while another run for this mailbox is still active.

    `options` are a backfill's listing options (see `listing_options`), checked here.
    """
    listing_options(options or {})
    with transaction.atomic():
        if active_run(mailbox) is not None:
            return None
        return FetchRun.objects.create(mailbox=mailbox, trigger=trigger, options=options or {})


def fetch_run_start(*, mailbox: Mailbox, trigger: str) -> FetchRun | None:
    """`fetch_run_create`, then the run sent to the worker once committed; None while another run is active."""
    from pipeline.actors import fetch_mailbox  # importing the actors sets up the broker: keep it lazy

    run = fetch_run_create(mailbox=mailbox, trigger=trigger)
    if run is not None:
        # robust: if Redis is down the PENDING run stays in the database and the next tick re-sends it.
        transaction.on_commit(lambda: fetch_mailbox.send(run.pk), robust=True)
    return run


def listing_options(options: dict) -> dict:
    """FetchRun.options as keyword arguments of Source.list_messages; ValueError when malformed."""
    unknown = set(options) - {"since", "folders", "include_processed"}
    if unknown:
        raise ValueError(f"unknown listing options {sorted(unknown)}")
    kwargs: dict = {}
    if options.get("since"):
        kwargs["since"] = dt.date.fromisoformat(str(options["since"]))
    if options.get("folders"):
        kwargs["folders"] = [str(name) for name in options["folders"]]
    if options.get("include_processed"):
        kwargs["include_processed"] = True
    return kwargs


def fetch_run_cancel(*, run_id: int) -> bool:
    """Stop an active run: its listing stops, and its messages still queued are dropped.

    Its pending messages stay pending; the catch-up leaves them alone and a later run that
    lists them again takes them over. True when the run was active.
    """
    cancelled = FetchRun.objects.filter(pk=run_id, status__in=FetchRun.ACTIVE_STATUSES).update(
        status=FetchRun.Status.CANCELLED, finished_at=timezone.now(), error="cancelled by a user"
    )
    return bool(cancelled)


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
    started = FetchRun.objects.filter(pk=run.pk, status__in=FetchRun.ACTIVE_STATUSES).update(
        status=FetchRun.Status.RUNNING, started_at=timezone.now(), error=""
    )
    if not started:
        return  # cancelled meanwhile
    for count, summary in enumerate(source.list_messages(**listing_options(run.options or {})), start=1):
        if (
            count % CANCEL_CHECK_EVERY == 0
            and FetchRun.objects.filter(pk=run.pk, status=FetchRun.Status.CANCELLED).exists()
        ):
            logger.info("run %s was cancelled; listing stopped", run.pk)
            return
        message, created = message_record(mailbox=run.mailbox, run=run, summary=summary)
        if not created and _take_over(message, run):
            created = True
        fetch_run_count(run_id=run.pk, messages_seen=1, messages_new=int(created))
        if created:
            on_new_message(message.pk)
        else:
            _settle_at_source(source, message)
    FetchRun.objects.filter(pk=run.pk).update(listed_at=timezone.now())
    fetch_run_finish_if_done(run_id=run.pk)


def message_record(*, mailbox: Mailbox, run: FetchRun, summary: MessageSummary) -> tuple[MailMessage, bool]:
    """The message row for a listed message, created once per source id.

    A Message-ID is only a hint (mailers reuse them): a mail under a known one is a message of
    its own here, and only its content, once read, can make it a copy (messages.message_save).
    """
    existing = MailMessage.objects.filter(mailbox=mailbox, source_id=summary.source_id).first()
    if existing is not None:
        return existing, False
    try:
        with conflict_guard():
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


def _take_over(message: MailMessage, run: FetchRun) -> bool:
    """A pending message left behind by a cancelled run becomes this run's; True when it did."""
    if message.status != MailMessage.Status.PENDING or message.fetch_run_id == run.pk:
        return False
    return bool(
        MailMessage.objects.filter(
            pk=message.pk, status=MailMessage.Status.PENDING, fetch_run__status=FetchRun.Status.CANCELLED
        ).update(fetch_run=run, delivery_attempts=0, updated_at=timezone.now())
    )


def _settle_at_source(source: Source, message: MailMessage) -> None:
    """A message still at the source whose fate we already know: finish moving it.

    It is left alone once settled, and for a while after its fate was recorded: its own
    delivery is moving it right now (and retries that on failure), and a second move would race it.
    """
    if message.settled_at is not None or message.updated_at > timezone.now() - SETTLE_GRACE:
        return
    if message.status == MailMessage.Status.PROCESSED:
        source.mark_processed(message.source_id)
    elif message.status == MailMessage.Status.QUARANTINED:
        source.mark_failed(message.source_id, message.error)
    else:
        return
    MailMessage.objects.filter(pk=message.pk).update(settled_at=timezone.now())


def fetch_run_finish_if_done(*, run_id: int) -> bool:
    """Close a run once its listing is done and none of its messages is pending.

    Each message's save asks, while its run is still listing or while other messages of it wait: those
    answers need no lock (the listing closes the run itself when it is done, and the save of the last
    message pending finds none left); only a run that may be closed is locked and read again.
    """
    status, listed_at = FetchRun.objects.filter(pk=run_id).values_list("status", "listed_at").get()
    if status != FetchRun.Status.RUNNING or listed_at is None:
        return status not in FetchRun.ACTIVE_STATUSES
    if MailMessage.objects.filter(fetch_run_id=run_id, status=MailMessage.Status.PENDING).exists():
        return False  # read after this save's own message was recorded done: its last save will find none
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
