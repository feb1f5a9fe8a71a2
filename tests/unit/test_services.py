"""The pipeline's services over a real folder source, real storage and the test database."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import operator

import pytest
from django.core.files.storage import storages
from django.utils import timezone

from pipeline import config, samples
from pipeline.sources.base import SourceError
from webapp.inbox.models import Attachment, Blob, FetchRun, Mailbox, MailMessage
from webapp.inbox.services.catchup import stale_work_claim
from webapp.inbox.services.messages import message_begin_delivery, message_end_delivery, message_save
from webapp.inbox.services.preview_requests import attachment_preview_made
from webapp.inbox.services.runs import fetch_run_create, fetch_run_execute

pytestmark = pytest.mark.django_db

PDF = samples.invoice_pdf(issuer_name="Proveedora Austral SpA", folio=1, total=100)


@pytest.fixture
def inbox(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def mailbox(inbox):
    return Mailbox.objects.create(name="suppliers", settings={"path": str(inbox)})


def drop(inbox, name, *, attachments, message_id=None):
    (inbox / name).write_bytes(samples.supplier_email(attachments=attachments, message_id=message_id))


def fetch(mailbox) -> tuple[FetchRun, list[int]]:
    run = fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.MANUAL)
    new: list[int] = []
    fetch_run_execute(run=run, on_new_message=new.append)
    return run, new


def save_all(message_ids):
    """Each message's delivery as the actor makes it: begun, saved, and reported back even when it raises."""
    outcomes = []
    for message_id in message_ids:
        message = message_begin_delivery(message_id=message_id)
        if message is None:
            outcomes.append(None)
            continue
        try:
            outcomes.append(message_save(message=message))
        finally:
            message_end_delivery(message_id=message_id)
    return outcomes


def test_a_fetched_mailbox_ends_stored_counted_and_moved(mailbox, inbox):
    xml = samples.dte_xml(folio=7)
    drop(inbox, "a.eml", attachments=[("dte.xml", "application/xml", xml), ("f.pdf", "application/pdf", PDF)])
    drop(inbox, "b.eml", attachments=[("copy.pdf", "application/pdf", PDF)])
    run, new = fetch(mailbox)
    assert len(new) == 2
    run.refresh_from_db()
    assert run.status == FetchRun.Status.RUNNING and run.listed_at is not None

    outcomes = save_all(new)
    run.refresh_from_db()
    assert run.status == FetchRun.Status.COMPLETED
    assert (run.messages_seen, run.messages_new, run.attachments_stored, run.attachments_deduplicated) == (2, 2, 3, 1)
    assert Blob.objects.count() == 2
    for blob in Blob.objects.all():
        with storages["default"].open(blob.storage_name) as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == blob.sha256
    # A small DTE XML is parsed by its save right after (render_now); a PDF's thumbnail waits for its first request.
    rendered = Attachment.objects.filter(content_type="application/xml")
    assert rendered and {a.preview_status for a in rendered} == {Attachment.PreviewStatus.PENDING}
    assert sorted(functools.reduce(operator.iadd, (o.render_now for o in outcomes), [])) == sorted(
        a.pk for a in rendered
    )
    assert [o.to_render for o in outcomes] == [[], []], "nothing small goes through the render queue"
    pdfs = Attachment.objects.filter(content_type="application/pdf")
    assert pdfs and {a.preview_status for a in pdfs} == {Attachment.PreviewStatus.ON_REQUEST}
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["a.eml", "b.eml"]


def test_listing_again_creates_nothing_new(mailbox, inbox):
    drop(inbox, "a.eml", attachments=[("f.pdf", "application/pdf", PDF)])
    first, _new = fetch(mailbox)
    second = FetchRun.objects.create(mailbox=mailbox)
    FetchRun.objects.filter(pk=first.pk).update(status=FetchRun.Status.COMPLETED)
    again: list[int] = []
    fetch_run_execute(run=second, on_new_message=again.append)
    second.refresh_from_db()
    assert again == [] and (second.messages_seen, second.messages_new) == (1, 0)
    assert MailMessage.objects.count() == 1


def test_a_second_run_is_refused_while_one_is_active(mailbox):
    assert fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.SCHEDULE) is not None
    assert fetch_run_create(mailbox=mailbox, trigger=FetchRun.Trigger.SCHEDULE) is None


def test_the_same_mail_twice_is_stored_once_and_both_files_are_settled_by_the_same_run(mailbox, inbox):
    raw = samples.supplier_email(attachments=[("f.pdf", "application/pdf", PDF)], message_id="<same@proveedora.cl>")
    for name in ("a.eml", "a-copy.eml"):
        (inbox / name).write_bytes(raw)
    _, new = fetch(mailbox)
    assert len(new) == 2, "a Message-ID is a hint: each file is read"
    save_all(new)
    original = MailMessage.objects.get(copy_of__isnull=True)
    copy = MailMessage.objects.get(copy_of=original)
    assert original.content_sha256 == copy.content_sha256 == hashlib.sha256(raw).hexdigest()
    assert Attachment.objects.count() == 1 and Blob.objects.count() == 1
    assert copy.status == MailMessage.Status.PROCESSED and copy.settled_at is not None
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["a-copy.eml", "a.eml"]


@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_two_different_mails_under_one_message_id_are_both_stored_in_full(mailbox, inbox, order):
    pdfs = {
        key: samples.invoice_pdf(issuer_name="Proveedora", folio=n, total=1000 * n) for n, key in enumerate("ab", 1)
    }
    for rank, key in enumerate(order):
        drop(inbox, f"{rank}-{key}.eml", attachments=[(f"{key}.pdf", "application/pdf", pdfs[key])], message_id="<r@x>")
    _, new = fetch(mailbox)
    save_all(new)
    messages = MailMessage.objects.filter(internet_message_id="<r@x>")
    assert messages.count() == 2 and not messages.filter(copy_of__isnull=False).exists()
    stored = {a.original_filename: a.blob.sha256 for a in Attachment.objects.select_related("blob")}
    assert stored == {f"{k}.pdf": hashlib.sha256(v).hexdigest() for k, v in pdfs.items()}
    assert len(list((inbox / "processed").iterdir())) == 2


def test_saving_is_idempotent_and_resumes_after_the_last_stored_attachment(mailbox, inbox):
    drop(inbox, "a.eml", attachments=[("one.pdf", "application/pdf", PDF), ("two.xml", "application/xml", b"<a/>")])
    _, new = fetch(mailbox)
    message = MailMessage.objects.get(pk=new[0])
    Attachment.objects.create(
        message=message,
        position=0,
        original_filename="one.pdf",
        filename="one.pdf",
        status=Attachment.Status.SKIPPED,
        error="stored by an earlier delivery",
    )
    save_all(new)
    assert list(message.attachments.values_list("position", "status")) == [(0, "skipped"), (1, "stored")]
    assert message_begin_delivery(message_id=message.pk) is None, "a processed message is not worked on again"


def test_a_resumed_save_counts_what_the_stopped_delivery_stored_once(mailbox, inbox):
    drop(inbox, "a.eml", attachments=[("one.pdf", "application/pdf", PDF), ("two.xml", "application/xml", b"<a/>")])
    run, new = fetch(mailbox)
    message = MailMessage.objects.get(pk=new[0])
    blob = Blob.objects.create(sha256="0" * 64, size=1, content_type="application/pdf", storage_name="x")
    # what a delivery killed after its first attachment left: the row, never counted in the run
    Attachment.objects.create(
        message=message, position=0, filename="one.pdf", status=Attachment.Status.STORED, blob=blob
    )
    save_all(new)
    save_all(new)  # done already: counted no more
    run.refresh_from_db()
    assert (run.attachments_stored, run.attachments_failed) == (2, 0)


def test_oversized_and_empty_attachments_are_recorded_not_stored(mailbox, inbox, monkeypatch):
    monkeypatch.setattr(config, "MAX_ATTACHMENT_BYTES", 1000)
    drop(
        inbox,
        "a.eml",
        attachments=[
            ("big.pdf", "application/pdf", b"%PDF-" + b"x" * 2000),
            ("empty.pdf", "application/pdf", b""),
            ("ok.xml", "application/xml", b"<ok/>"),
        ],
    )
    run, new = fetch(mailbox)
    save_all(new)
    run.refresh_from_db()
    rows = {a.filename: a for a in Attachment.objects.all()}
    assert rows["big.pdf"].status == Attachment.Status.FAILED and "limit" in rows["big.pdf"].error
    assert rows["empty.pdf"].status == Attachment.Status.SKIPPED and "0 bytes" in rows["empty.pdf"].error
    assert rows["ok.xml"].status == Attachment.Status.STORED
    assert run.status == FetchRun.Status.COMPLETED_WITH_ERRORS and run.attachments_failed == 1
    assert Blob.objects.count() == 1


def test_a_message_whose_deliveries_keep_dying_is_quarantined_with_its_reason(mailbox, inbox):
    drop(inbox, "poison.eml", attachments=[("f.pdf", "application/pdf", PDF)])
    run, new = fetch(mailbox)
    MailMessage.objects.filter(pk=new[0]).update(delivery_attempts=config.MAX_DELIVERIES, error="TimeLimitExceeded")
    assert message_begin_delivery(message_id=new[0]) is None
    message = MailMessage.objects.get(pk=new[0])
    assert message.status == MailMessage.Status.QUARANTINED
    assert "Gave up after" in message.error and "TimeLimitExceeded" in message.error
    assert (inbox / "failed" / "poison.eml").exists()
    assert "Gave up" in (inbox / "failed" / "poison.eml.reason").read_text()
    run.refresh_from_db()
    assert run.status == FetchRun.Status.COMPLETED_WITH_ERRORS and run.messages_failed == 1


def test_a_message_gone_from_the_source_is_quarantined(mailbox, inbox):
    drop(inbox, "a.eml", attachments=[("f.pdf", "application/pdf", PDF)])
    _, new = fetch(mailbox)
    (inbox / "a.eml").unlink()
    outcome = save_all(new)[0]
    assert outcome.quarantined
    assert "no longer at the source" in MailMessage.objects.get(pk=new[0]).error


def test_stale_pending_work_is_claimed_once_per_period(mailbox, inbox):
    drop(inbox, "a.eml", attachments=[("f.pdf", "application/pdf", PDF)])
    _, new = fetch(mailbox)
    assert stale_work_claim().messages == []
    long_ago = timezone.now() - dt.timedelta(seconds=config.STALE_AFTER_SECONDS + 60)
    MailMessage.objects.filter(pk=new[0]).update(updated_at=long_ago)
    assert stale_work_claim().messages == new
    assert stale_work_claim().messages == [], "claimed work waits another period"


def test_previews_are_rendered_once_per_content_and_bad_pdfs_are_recorded(mailbox, inbox):
    drop(
        inbox,
        "a.eml",
        attachments=[("f.pdf", "application/pdf", PDF), ("broken.pdf", "application/pdf", PDF[: len(PDF) // 2])],
    )
    _, new = fetch(mailbox)
    assert save_all(new)[0].to_render == [], "a PDF's thumbnail is drawn on its first request"
    good, broken = Attachment.objects.filter(message_id=new[0]).order_by("position")
    good = attachment_preview_made(attachment=good)
    assert good.preview_status == Attachment.PreviewStatus.READY
    with storages["default"].open(good.preview_name) as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    broken = attachment_preview_made(attachment=broken)
    assert broken.preview_status == Attachment.PreviewStatus.FAILED and "damaged" in broken.preview_error


def test_a_delivery_ended_by_an_outage_is_not_held_against_the_message(mailbox, inbox):
    from webapp.inbox.services.messages import message_release_delivery

    drop(inbox, "a.eml", attachments=[("f.pdf", "application/pdf", PDF)])
    _, new = fetch(mailbox)
    for _ in range(config.MAX_DELIVERIES + 3):
        assert message_begin_delivery(message_id=new[0]) is not None
        message_release_delivery(message_id=new[0], error="SourceError: Graph answered 503")
    message = MailMessage.objects.get(pk=new[0])
    assert message.status == MailMessage.Status.PENDING and message.delivery_attempts == 0
    assert "503" in message.error


def test_a_failed_move_at_the_source_is_retried_without_storing_again(mailbox, inbox):
    drop(inbox, "a.eml", attachments=[("f.pdf", "application/pdf", PDF)])
    _, new = fetch(mailbox)
    (inbox / "processed").write_text("a file where the folder should be")  # the move fails
    with pytest.raises(SourceError, match="cannot create"):
        save_all(new)
    message = MailMessage.objects.get(pk=new[0])
    assert message.status == MailMessage.Status.PROCESSED and message.settled_at is None
    assert (inbox / "a.eml").exists(), "still at the source: nothing was moved early or lost"

    (inbox / "processed").unlink()
    save_all(new)
    message.refresh_from_db()
    assert message.settled_at is not None and (inbox / "processed" / "a.eml").exists()
    assert Attachment.objects.count() == 1 and Blob.objects.count() == 1
