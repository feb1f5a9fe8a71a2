"""Deliveries counted in the database: render deliveries given up after the limit, suspects sent one at a time,
and errors that can never succeed recorded on the first try by every actor.

A delivery "dies" here the way it does when its worker process is killed: it begins and never
reports back. Time moves by setting rows' timestamps back past the stale period. The actors run
as a worker runs them on a first delivery: with the current message set (tests/integration/
test_suspects.py does the same with a real worker process that dies).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.files.storage import storages
from django.utils import timezone, translation
from dramatiq.middleware import CurrentMessage

from pipeline import config, samples
from pipeline.actors import broker, fetch_mailbox, render_attachment, save_message
from pipeline.actors.policy import describe
from pipeline.storage import save_spooled, spool
from webapp.documents.services.documents import xml_attachment_process
from webapp.inbox.models import Attachment, Blob, DeliveryState, FetchRun, Mailbox, MailMessage
from webapp.inbox.services.catchup import StaleWork, stale_work_claim
from webapp.inbox.services.messages import message_begin_delivery, message_end_delivery
from webapp.inbox.services.previews import attachment_begin_render, attachment_end_render, attachment_render_preview
from webapp.inbox.services.runs import fetch_run_create

pytestmark = pytest.mark.django_db

PDF = samples.invoice_pdf(issuer_name="Proveedora Austral SpA", folio=1, total=100)


@pytest.fixture
def mailbox(tmp_path):
    (tmp_path / "inbox").mkdir()
    return Mailbox.objects.create(name="suppliers", settings={"path": str(tmp_path / "inbox")})


def message_row(mailbox, source_id: str) -> MailMessage:
    run = FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.RUNNING)
    return MailMessage.objects.create(mailbox=mailbox, fetch_run=run, source_id=source_id)


def stored(mailbox, filename: str, content_type: str, data: bytes) -> Attachment:
    """A stored attachment whose preview is PENDING, as save_message leaves it."""
    with spool(iter([data]), max_bytes=10**8) as spooled:
        blob = Blob.objects.filter(sha256=spooled.sha256).first() or Blob.objects.create(
            sha256=spooled.sha256,
            size=spooled.size,
            content_type=content_type,
            storage_name=save_spooled(storages["default"], spooled),
        )
    message = message_row(mailbox, f"m{MailMessage.objects.count()}.eml")
    MailMessage.objects.filter(pk=message.pk).update(status=MailMessage.Status.PROCESSED, settled_at=timezone.now())
    return Attachment.objects.create(
        message=message,
        position=0,
        original_filename=filename,
        filename=filename,
        content_type=content_type,
        blob=blob,
        status=Attachment.Status.STORED,
        preview_status=Attachment.PreviewStatus.PENDING,
    )


def first_delivery(actor, *args) -> None:
    """Run `actor` as a worker runs its first delivery: not the last attempt, so errors would be retried."""
    message = actor.message(*args)
    current = CurrentMessage()
    current.before_process_message(broker, message)
    try:
        actor.fn(*args)
    finally:
        current.after_process_message(broker, message)


def later(*rows) -> None:
    """Past the stale period for `rows`: their deliveries began, or they were claimed, long ago."""
    long_ago = timezone.now() - dt.timedelta(seconds=config.STALE_AFTER_SECONDS + 60)
    for row in rows:
        type(row).objects.filter(pk=row.pk).update(updated_at=long_ago, delivery_at=long_ago)


def state(row) -> tuple[str, int]:
    row.refresh_from_db()
    return row.delivery_state, row.delivery_attempts


# -- 1. render deliveries are counted ------------------------------------------------------------


def test_a_file_that_keeps_stopping_the_worker_is_given_up_with_a_reason_and_never_sent_again(mailbox):
    bomb = stored(mailbox, "bomba.pdf", "application/pdf", PDF)
    for death in range(config.MAX_DELIVERIES):
        assert attachment_begin_render(attachment_id=bomb.pk) is not None  # ... and the worker dies
        later(bomb)
        assert stale_work_claim().previews == [bomb.pk], f"after death {death + 1}: sent again, on its own"
    assert attachment_begin_render(attachment_id=bomb.pk) is None
    bomb.refresh_from_db()
    assert bomb.preview_status == Attachment.PreviewStatus.FAILED
    assert bomb.preview_error == f"gave up: making the preview did not finish {config.MAX_DELIVERIES} times"
    assert state(bomb) == (DeliveryState.IDLE, config.MAX_DELIVERIES)
    later(bomb)
    assert stale_work_claim().previews == [], "the catch-up never sends it again"


def test_the_reason_is_written_in_the_sites_language_whatever_the_thread_served_last(mailbox, settings):
    settings.LANGUAGE_CODE = "es"
    bomb = stored(mailbox, "bomba.pdf", "application/pdf", PDF)
    Attachment.objects.filter(pk=bomb.pk).update(delivery_attempts=config.MAX_DELIVERIES)
    with translation.override("en"):  # the last request this thread served was in English
        assert attachment_begin_render(attachment_id=bomb.pk) is None
    bomb.refresh_from_db()
    assert bomb.preview_error == f"se abandonó: la vista previa no terminó de generarse {config.MAX_DELIVERIES} veces"


def test_render_deliveries_that_report_back_are_not_held_against_the_file(mailbox):
    damaged = stored(mailbox, "rota.pdf", "application/pdf", b"%PDF-1.4 truncated")
    for _ in range(config.MAX_DELIVERIES + 2):  # e.g. the storage away: released, retried, sent again
        assert attachment_begin_render(attachment_id=damaged.pk) is not None
        attachment_end_render(attachment_id=damaged.pk)
    assert state(damaged) == (DeliveryState.IDLE, 0)
    render_attachment(damaged.pk)
    damaged.refresh_from_db()
    assert damaged.preview_status == Attachment.PreviewStatus.FAILED and "gave up" not in damaged.preview_error
    assert state(damaged) == (DeliveryState.IDLE, 0)


@pytest.mark.parametrize(
    ("filename", "content_type", "data"),
    [("factura.pdf", "application/pdf", PDF), ("dte.xml", "application/xml", samples.dte_xml(folio=78))],
)
def test_recording_the_preview_ends_its_delivery_so_a_death_after_it_redoes_nothing(
    mailbox, filename, content_type, data
):
    attachment = stored(mailbox, filename, content_type, data)
    Attachment.objects.filter(pk=attachment.pk).update(delivery_attempts=1)  # an earlier delivery died
    begun = attachment_begin_render(attachment_id=attachment.pk)
    assert begun is not None and state(attachment) == (DeliveryState.RUNNING, 2)
    if content_type == "application/pdf":
        attachment_render_preview(attachment=begun)
    else:
        xml_attachment_process(attachment=begun)
    # ... and the worker dies before the actor reports back (an XML's preview comes with its printable, on request)
    expected = Attachment.PreviewStatus.READY if content_type == "application/pdf" else Attachment.PreviewStatus.NONE
    assert begun.preview_status == expected
    assert state(attachment) == (DeliveryState.IDLE, 1), "ended with its outcome, in the same write"
    later(attachment)
    assert stale_work_claim().previews == [], "nothing sends it again"


def test_a_delivery_ended_twice_takes_back_its_count_once(mailbox):
    attachment = stored(mailbox, "factura.pdf", "application/pdf", PDF)
    Attachment.objects.filter(pk=attachment.pk).update(delivery_attempts=1)  # an earlier delivery died
    assert attachment_begin_render(attachment_id=attachment.pk) is not None
    attachment_end_render(attachment_id=attachment.pk)
    attachment_end_render(attachment_id=attachment.pk)
    assert state(attachment) == (DeliveryState.IDLE, 1), "the death still counts"


# -- 2. suspects are sent one at a time ----------------------------------------------------------


def test_work_whose_delivery_did_not_finish_is_sent_again_alone_one_suspect_at_a_time(mailbox):
    culprit, neighbour, waiting = (message_row(mailbox, f"{name}.eml") for name in ("culprit", "neighbour", "waiting"))
    preview = stored(mailbox, "vecina.pdf", "application/pdf", PDF)
    for row in (culprit, neighbour):  # both in flight when the worker died
        assert message_begin_delivery(message_id=row.pk) is not None
    assert attachment_begin_render(attachment_id=preview.pk) is not None
    later(culprit, neighbour, preview, waiting)  # `waiting` was prefetched, never begun

    claimed = stale_work_claim()
    assert claimed.messages == [waiting.pk, culprit.pk] and claimed.previews == [], "one suspect, the rest flows"
    assert [state(r)[0] for r in (culprit, neighbour, preview)] == ["turn", "suspect", "suspect"]
    assert message_begin_delivery(message_id=neighbour.pk) is None, "Redis' own redelivery of a suspect is refused"
    assert state(neighbour) == (DeliveryState.SUSPECT, 1)
    assert message_begin_delivery(message_id=culprit.pk) is not None
    assert message_begin_delivery(message_id=culprit.pk) is None, "one delivery per turn"
    assert state(culprit) == (DeliveryState.ALONE, 2)
    assert stale_work_claim() == StaleWork(runs=[], messages=[], previews=[]), "a suspect is in flight"

    later(culprit)  # its lone delivery killed the worker again: the others go first
    claimed = stale_work_claim()
    assert (claimed.messages, claimed.previews) == ([neighbour.pk], [])
    assert message_begin_delivery(message_id=neighbour.pk) is not None
    message_end_delivery(message_id=neighbour.pk)  # saved on its own
    assert state(neighbour) == (DeliveryState.IDLE, 2)

    claimed = stale_work_claim()  # one suspect for messages and previews together
    assert (claimed.messages, claimed.previews) == ([], [preview.pk])
    assert attachment_begin_render(attachment_id=preview.pk) is not None
    attachment_end_render(attachment_id=preview.pk)
    assert state(preview) == (DeliveryState.IDLE, 1), "one render that never reported back"
    assert stale_work_claim().messages == [culprit.pk]


def test_an_innocent_killed_beside_the_culprit_comes_through_and_only_the_culprit_is_quarantined(mailbox):
    culprit, neighbour = message_row(mailbox, "culprit.eml"), message_row(mailbox, "neighbour.eml")
    for row in (culprit, neighbour):
        message_begin_delivery(message_id=row.pk)
    later(culprit, neighbour)
    turns: list[int] = []
    while (claimed := stale_work_claim()).messages and len(turns) < 20:
        (pk,) = claimed.messages
        turns.append(pk)
        message = message_begin_delivery(message_id=pk)
        if pk == neighbour.pk:
            message_end_delivery(message_id=pk)  # it never harmed anyone
        elif message is not None:
            later(culprit)  # the worker died again
    culprit.refresh_from_db()
    neighbour.refresh_from_db()
    assert culprit.status == MailMessage.Status.QUARANTINED and culprit.delivery_attempts == config.MAX_DELIVERIES + 1
    assert neighbour.status == MailMessage.Status.PENDING and neighbour.delivery_attempts == 2
    assert turns.count(neighbour.pk) == 1 and turns.count(culprit.pk) == config.MAX_DELIVERIES


# -- 3. errors that can never succeed ------------------------------------------------------------


def test_a_save_that_can_never_succeed_is_quarantined_with_its_reason_on_the_first_delivery(mailbox):
    # a mailbox repointed from Graph to a folder: the folder can never open a Graph message id
    message = message_row(mailbox, "AAMkAGI2TG93AAA=")
    first_delivery(save_message, message.pk)  # returns: recorded, so neither retried nor a dead letter
    message.refresh_from_db()
    assert message.status == MailMessage.Status.QUARANTINED
    assert message.error == "ValueError: not a message file name: 'AAMkAGI2TG93AAA='"
    assert state(message) == (DeliveryState.IDLE, 1)
    later(message)
    assert stale_work_claim().messages == []


BASE_XML = samples.dte_xml(folio=77, reference=samples.Reference(folio=700, issue_date=dt.date(2024, 5, 1)))


@pytest.mark.parametrize(
    ("pattern", "replacement"),
    [
        (rb"<PrcItem>[^<]*</PrcItem>", b"<PrcItem>NaN</PrcItem>"),
        (rb"<FolioRef>[^<]*</FolioRef>", "<FolioRef>7²</FolioRef>".encode("latin-1")),
        (rb"<Folio>77</Folio>", b"<Folio>-77</Folio>"),
    ],
    ids=["NaN PrcItem", "superscript FolioRef", "negative Folio"],
)
def test_a_render_that_can_never_succeed_is_recorded_on_the_first_delivery(mailbox, pattern, replacement):
    xml = stored(mailbox, "dte.xml", "application/xml", re.sub(pattern, replacement, BASE_XML, count=1))
    first_delivery(render_attachment, xml.pk)
    xml.refresh_from_db()
    assert xml.preview_status != Attachment.PreviewStatus.PENDING, "not left pending for the catch-up"
    if xml.preview_status == Attachment.PreviewStatus.FAILED:
        assert xml.preview_error, "failed with a reason"
    assert state(xml) == (DeliveryState.IDLE, 0)
    later(xml)
    assert stale_work_claim().previews == []


def test_a_stored_name_the_storage_refuses_fails_the_preview_with_a_reason_on_the_first_delivery(mailbox):
    pdf = stored(mailbox, "f.pdf", "application/pdf", PDF)
    Blob.objects.filter(pk=pdf.blob_id).update(storage_name="blobs/ab/\x00cd")
    first_delivery(render_attachment, pdf.pk)
    pdf.refresh_from_db()
    assert pdf.preview_status == Attachment.PreviewStatus.FAILED
    assert pdf.preview_error.startswith("ValueError: ") and "null" in pdf.preview_error
    assert str(config.state_dir()) not in pdf.preview_error


def test_a_listing_that_can_never_succeed_fails_its_run_with_the_reason_on_the_first_delivery(mailbox):
    run = fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.BACKFILL, options={"folders": ["Archive"]})
    first_delivery(fetch_mailbox, run.pk)  # returns: recorded, so not a dead letter
    run.refresh_from_db()
    assert run.status == FetchRun.Status.FAILED
    assert run.error == "ValueError: a folder mailbox has a single folder: backfill with --since only"


def test_reasons_recorded_for_people_carry_no_file_path(mailbox, tmp_path):
    Mailbox.objects.filter(pk=mailbox.pk).update(settings={"path": str(tmp_path / "gone")})
    run = fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.MANUAL)
    first_delivery(fetch_mailbox, run.pk)
    run.refresh_from_db()
    assert run.status == FetchRun.Status.FAILED and run.error.startswith("source unavailable: mail folder")
    assert str(tmp_path) not in run.error and "does not exist" in run.error
    missing = FileNotFoundError(2, "No such file or directory", "/srv/state/media/blobs/ab/cd")
    assert describe(missing) == "FileNotFoundError: [Errno 2] No such file or directory: '…'"
    assert describe(ValueError("see https://graph.microsoft.com/v1.0/users or a/b/c")).endswith("v1.0/users or a/b/c")


def test_a_preview_given_up_by_the_limit_is_rendered_again_from_the_dashboard(mailbox):
    """Re-render failed previews starts the count again: a file given up after worker deaths (now
    fixed, or a one-off crash) gets its deliveries back instead of being given up on the spot."""
    from webapp.inbox.services.dashboard import previews_rerender_failed

    given_up = stored(mailbox, "factura.pdf", "application/pdf", PDF)
    for _ in range(config.MAX_DELIVERIES):
        attachment_begin_render(attachment_id=given_up.pk)
        later(given_up)
        stale_work_claim()
    assert attachment_begin_render(attachment_id=given_up.pk) is None
    assert previews_rerender_failed(mailbox_ids=None) == 1
    assert state(given_up) == (DeliveryState.IDLE, 0)
    assert attachment_begin_render(attachment_id=given_up.pk) is not None, "delivered again, not given up"
