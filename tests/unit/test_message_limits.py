"""Messages past the MIME reader's limits, damaged ones and ones of too many attachments, through the real save path.

The folder source, the services, storage and the actors' own functions (tests/support/inline.py)
run as in production; a well-formed mail travels beside each case and must come out whole.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from pipeline import config, samples
from tests.support.inline import GOOD_PDF, process_folder
from tests.unit.test_mime_limits import ENCODED_WORD, HEAD, multipart, nested_multiparts
from webapp.inbox.models import FetchRun, MailMessage

pytestmark = pytest.mark.django_db

PDF_PART = b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=%s\r\n\r\n%%PDF-1.4 %d"


@pytest.fixture
def run_mail(tmp_path):
    def run(*mails: bytes) -> FetchRun:
        why = "a message past a limit, or damaged, ends in a recorded reason, not in an actor's exception"
        return process_folder(tmp_path / "inbox", mails, name="limits", why=why).run

    return run


def saved(source_id: str = "01.eml") -> MailMessage:
    return MailMessage.objects.get(source_id=source_id)


HOSTILE = {
    "1 MB of encoded words in a header": (
        multipart(b'Content-Type: application/pdf; name="' + ENCODED_WORD * 75_000 + b'"\r\n\r\n%PDF'),
        "its headers take more than 1024 KB, the limit",
    ),
    "100k folded lines in a header": (
        multipart(b"Content-Disposition: attachment;\r\n" + b" a=b;\r\n" * 100_000 + b"\r\n%PDF"),
        "a part's Content-Disposition header is longer than 8 KB, the limit",
    ),
    "100k header fields": (
        HEAD + b"X-A: b\r\n" * 100_000 + b"\r\nbody\r\n",
        "a header block holds more than 1000 fields, the limit",
    ),
    "100k tiny parts": (
        multipart(*[b"Content-Type: text/plain\r\n\r\nx"] * 100_000),
        "it has more than 1000 MIME parts, the limit",
    ),
    "nesting 10k deep": (nested_multiparts(10_000), "its parts are nested more than 50 levels deep, the limit"),
}


@pytest.mark.parametrize(("data", "reason"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_message_past_a_limit_is_quarantined_with_its_reason(run_mail, tmp_path, data, reason):
    run = run_mail(data)
    message = saved()
    assert message.status == MailMessage.Status.QUARANTINED
    assert message.error == f"The message was not read to its end: {reason}."
    assert str(tmp_path) not in message.error
    assert (tmp_path / "inbox" / "failed" / "01.eml.reason").read_text() == message.error
    assert run.messages_failed == 1 and run.status == FetchRun.Status.COMPLETED_WITH_ERRORS


def test_a_message_of_no_boundary_ends_processed_saying_why_it_has_no_attachment(run_mail):
    data = HEAD + b"Content-Type: multipart/mixed\r\n\r\n--b\r\n" + PDF_PART % (b"f.pdf", 1) + b"\r\n--b--\r\n"
    run_mail(data)
    message = saved()
    assert message.status == MailMessage.Status.PROCESSED and message.attachment_count == 0
    assert message.error == (
        "No attachment found; the message has problems that may hide some: "
        "a multipart/mixed part has no boundary; its content was not read"
    )


def test_a_boundary_that_never_comes_is_recorded_on_the_message(run_mail):
    run_mail(HEAD + b'Content-Type: multipart/mixed; boundary="declared"\r\n\r\n--used\r\n' + PDF_PART % (b"f.pdf", 1))
    assert "the boundary of a multipart/mixed part never comes" in saved().error


def test_a_damaged_text_part_is_recorded_beside_the_attachments_that_were_read(run_mail):
    text = b"Content-Type: text/plain; charset*0*=bogus'''%%%; charset*1=\"x\r\n\r\nhola"
    run_mail(multipart(text, PDF_PART % (b"f.pdf", 1)))
    message = saved()
    assert message.status == MailMessage.Status.PROCESSED and message.attachments.count() == 1
    assert message.error.startswith("text/plain part: malformed Content-Type header")
    assert saved("00-good.eml").error == "", "a mail the reader finds nothing wrong with has no error"


def test_attachments_past_the_limit_are_counted_on_the_message_and_not_stored(run_mail, monkeypatch):
    monkeypatch.setattr(config, "MAX_ATTACHMENTS_PER_MESSAGE", 5)
    run_mail(multipart(*[PDF_PART % (b"f%d.pdf" % n, n) for n in range(8)]))
    message = saved()
    assert message.status == MailMessage.Status.PROCESSED and message.attachment_count == 5
    assert sorted(message.attachments.values_list("position", flat=True)) == [0, 1, 2, 3, 4]
    assert message.error == "only 5 attachments are kept for one message: 3 of its 8 parts were not stored"


def test_the_limit_counts_the_files_taken_out_of_containers(run_mail, monkeypatch):
    monkeypatch.setattr(config, "MAX_ATTACHMENTS_PER_MESSAGE", 4)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        for n in range(3):
            handle.writestr(f"m{n}.pdf", b"%PDF-1.4 member " + bytes([n]))
    mail = samples.supplier_email(
        attachments=[("a.pdf", "application/pdf", GOOD_PDF), ("b.zip", "application/zip", archive.getvalue())]
    )
    run_mail(mail)
    message = saved()
    assert message.attachments.count() == 4 and message.attachment_count == 2
    box = message.attachments.get(original_filename="b.zip")
    assert sorted(box.members.values_list("original_filename", flat=True)) == ["m0.pdf", "m1.pdf"]
    assert box.error == "1 member(s) not opened: the message has 4 attachments already, the most kept"
    assert message.error == "only 4 attachments are kept for one message: 1 files inside its containers were not stored"


def test_a_quarantined_messages_stored_files_are_not_counted_again_at_each_retry(run_mail):
    """A run counts a message's files once, when it is processed: a refusal and its retries add nothing."""
    from pipeline.actors import save_message
    from webapp.inbox.services.dashboard import messages_retry_failed

    first = b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF-1.4 1"
    run = run_mail(multipart(first, *[b"Content-Type: text/plain\r\n\r\nx"] * 1_001))
    message = saved()
    assert message.status == MailMessage.Status.QUARANTINED and message.attachments.count() == 1
    assert run.attachments_stored == 1, "the good mail's file only"
    for _ in range(2):
        assert messages_retry_failed(mailbox_ids=None) == 1
        save_message.fn(message.pk)
        message.refresh_from_db()
        assert message.status == MailMessage.Status.QUARANTINED
    run.refresh_from_db()
    assert run.attachments_stored == 1
