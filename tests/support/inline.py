"""One run of a mailbox through the real actors, in this process and in order.

For tests that want the pipeline's full effect on some input without a worker process:
`fetch_mailbox`, `save_message` and `render_attachment` run as their own functions
(`actor.fn`), so their error handling, delivery counting and recording run too. What each
actor sends goes through the real broker and Redis; it is taken off the queue here and run
the way a worker would on its last attempt (outside a worker, `is_last_attempt()` is true).
An actor that raises is what a worker would log and dead-letter: it is kept in `raised`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline import samples
from webapp.inbox.models import Attachment, FetchRun, Mailbox
from webapp.inbox.services.runs import fetch_run_create

from .thumbnails import make_thumbnail

#: Milliseconds a consumer waits on an empty queue before it says so.
EMPTY_QUEUE_MS = 50


@dataclass
class Processed:
    run: FetchRun
    #: (actor name, args, exception) of every actor call that raised.
    raised: list[tuple[str, tuple, BaseException]] = field(default_factory=list)
    #: (actor name, args) of every actor call, in order.
    ran: list[tuple[str, tuple]] = field(default_factory=list)


def process_mailbox(mailbox: Mailbox) -> Processed:
    from pipeline.actors import broker, fetch_mailbox, render_attachment, save_message

    broker.flush_all()  # another test's leftovers are not this run's work
    run = fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.MANUAL)
    assert run is not None, f"{mailbox} already has a run in progress"
    outcome = Processed(run=run)
    _call(outcome, fetch_mailbox, (outcome.run.pk,), {})
    for queue_name in (save_message.queue_name, render_attachment.queue_name):
        _drain(outcome, broker, queue_name)
    outcome.run.refresh_from_db()
    return outcome


def _drain(outcome: Processed, broker, queue_name: str) -> None:
    consumer = broker.consume(queue_name, prefetch=1, timeout=EMPTY_QUEUE_MS)
    try:
        while (message := next(consumer)) is not None:
            _call(outcome, broker.get_actor(message.actor_name), message.args, message.kwargs)
            consumer.ack(message)
    finally:
        consumer.close()


def _call(outcome: Processed, actor, args: tuple, kwargs: dict) -> None:
    outcome.ran.append((actor.actor_name, tuple(args)))
    try:
        actor.fn(*args, **kwargs)
    except Exception as exc:
        outcome.raised.append((actor.actor_name, tuple(args), exc))


#: The well-formed mail every folder run carries beside the input under test.
GOOD_PDF = samples.invoice_pdf(issuer_name="Proveedora Austral SpA", folio=1, total=100)


def process_folder(folder: Path, mails: tuple[bytes, ...], *, name: str, why: str) -> Processed:
    """Drop `mails` (as 01.eml, 02.eml...) and one good mail into a new folder mailbox and process it.

    The good mail must come out stored and previewed, and no actor may raise (`why` says what
    the input must end in instead): bad input never blocks the rest.
    """
    folder.mkdir()
    good = samples.supplier_email(attachments=[("good.pdf", "application/pdf", GOOD_PDF)])
    (folder / "00-good.eml").write_bytes(good)
    for index, data in enumerate(mails, start=1):
        (folder / f"{index:02d}.eml").write_bytes(data)
    processed = process_mailbox(Mailbox.objects.create(name=name, settings={"path": str(folder)}))
    assert processed.raised == [], why
    stored = Attachment.objects.get(message__source_id="00-good.eml")
    assert stored.status == Attachment.Status.STORED and stored.preview_status == Attachment.PreviewStatus.ON_REQUEST
    assert make_thumbnail(stored).preview_status == Attachment.PreviewStatus.READY, "its thumbnail, once asked for"
    return processed
