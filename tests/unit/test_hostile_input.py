"""Hostile mail through the real folder source, services and storage.

Every case must end with a readable recorded reason (or be handled as the ordinary thing it
is) and leave the well-formed message that travels with it untouched.
"""

from __future__ import annotations

import base64
import io
from email.message import EmailMessage

import pytest
from PIL import Image
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas

from pipeline import config, samples
from tests.support.inline import GOOD_PDF, process_folder, process_mailbox
from tests.support.thumbnails import make_thumbnail
from webapp.inbox.models import Attachment, FetchRun, Mailbox, MailMessage

pytestmark = pytest.mark.django_db


def pdf(**options) -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, **options)
    page.drawString(10, 10, "hostile")
    page.showPage()
    page.save()
    return buffer.getvalue()


def mail_with(*parts: tuple[str, str, bytes], message_id: str | None = None) -> bytes:
    return samples.supplier_email(attachments=list(parts), message_id=message_id)


def raw_mail(body: bytes) -> bytes:
    return b"From: a@b.cl\r\nSubject: raw\r\nMessage-ID: <raw-%d@b.cl>\r\n" % id(body) + body


NAMED = [
    ("dotdot", "../../../etc/passwd.pdf", "passwd.pdf"),
    ("absolute", "/etc/cron.d/evil.pdf", "evil.pdf"),
    ("windows", "C:\\Windows\\evil.pdf", "evil.pdf"),
    ("control", "fac\x07tura\x1b.pdf", "fac_tura_.pdf"),
    ("long", "a" * 300 + ".pdf", "a" * 146 + ".pdf"),
    ("unicode", "Factura Ñuñoa ñandú.pdf", "Factura Ñuñoa ñandú.pdf"),
]


def rfc2231_name() -> bytes:
    return raw_mail(
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename*=UTF-8''factura%20%C3%B1%22%0D%0AX-Evil%3A%201.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(GOOD_PDF) + b"--b--\r\n"
    )


def encoded_word_name() -> bytes:
    return raw_mail(
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b'Content-Type: application/xml\r\nContent-Disposition: attachment; filename="=?utf-8?b?ZMOpdGUueG1s?="\r\n'
        b"\r\n<DTE/>\r\n--b--\r\n"
    )


def unclosed_boundary() -> bytes:
    return raw_mail(
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="never"\r\n\r\n--never\r\n'
        b'Content-Type: application/xml\r\nContent-Disposition: attachment; filename="cut.xml"\r\n\r\n<DTE>truncated'
    )


def nested_message() -> bytes:
    inner = EmailMessage()
    inner["Subject"] = "forwarded"
    inner.set_content("see attached")
    inner.add_attachment(GOOD_PDF, maintype="application", subtype="pdf", filename="inner.pdf")
    outer = EmailMessage()
    outer["Subject"] = "Fwd"
    outer["Message-ID"] = "<outer@b.cl>"
    outer.set_content("forwarding")
    outer.add_attachment(inner)
    return outer.as_bytes()


@pytest.fixture
def run_mail(tmp_path):
    """Drop the given e-mails (plus one well-formed one) into a folder mailbox, fetch and save them."""

    def run(*mails: bytes):
        inbox = tmp_path / "inbox"
        why = "hostile input ends in a recorded reason, not in an actor's exception"
        run = process_folder(inbox, mails, name="hostile", why=why).run
        return run, inbox

    return run


@pytest.mark.parametrize(("case", "raw_name", "download_name"), NAMED, ids=[c[0] for c in NAMED])
def test_hostile_filenames_are_kept_for_the_record_and_cleaned_for_download(run_mail, case, raw_name, download_name):
    run_mail(mail_with((raw_name, "application/pdf", GOOD_PDF)))
    attachment = Attachment.objects.get(message__source_id="01.eml")
    assert attachment.original_filename == raw_name
    assert attachment.filename == download_name
    assert attachment.blob.storage_name.startswith("blobs/") and raw_name not in attachment.blob.storage_name


def test_a_nul_byte_in_a_filename(run_mail):
    run_mail(
        raw_mail(
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            b'Content-Type: application/xml\r\nContent-Disposition: attachment; filename="nul\x00name.xml"\r\n\r\n<a/>\r\n--b--\r\n'
        )
    )
    attachment = Attachment.objects.get(message__source_id="01.eml")
    assert "\x00" not in attachment.filename and attachment.filename.endswith(".xml")


def test_rfc2231_name_decoding_to_a_quote_and_crlf_cannot_inject_a_header(run_mail):
    run_mail(rfc2231_name())
    attachment = Attachment.objects.get(message__source_id="01.eml")
    assert attachment.original_filename == 'factura ñ"\r\nX-Evil: 1.pdf'
    assert not set('"\r\n') & set(attachment.filename)


def test_encoded_word_name_is_decoded(run_mail):
    run_mail(encoded_word_name())
    assert Attachment.objects.get(message__source_id="01.eml").original_filename == "déte.xml"


def test_attachment_over_the_size_cap_fails_with_its_reason(run_mail, monkeypatch):
    monkeypatch.setattr(config, "MAX_ATTACHMENT_BYTES", len(GOOD_PDF) + 10)
    run, _ = run_mail(mail_with(("huge.xml", "application/xml", b"<a>" + b"x" * (len(GOOD_PDF) + 100) + b"</a>")))
    attachment = Attachment.objects.get(message__source_id="01.eml")
    assert attachment.status == Attachment.Status.FAILED and "limit" in attachment.error
    assert run.status == FetchRun.Status.COMPLETED_WITH_ERRORS


def test_zero_byte_attachment_is_skipped_with_its_reason(run_mail):
    run_mail(mail_with(("empty.pdf", "application/pdf", b"")))
    attachment = Attachment.objects.get(message__source_id="01.eml")
    assert attachment.status == Attachment.Status.SKIPPED and "0 bytes" in attachment.error


def test_a_boundary_that_never_closes_keeps_what_arrived_and_says_so(run_mail):
    run_mail(unclosed_boundary())
    attachment = Attachment.objects.get(message__source_id="01.eml")
    assert attachment.status == Attachment.Status.STORED and "never closed" in attachment.error


def test_a_message_with_sixty_five_attachments(run_mail):
    parts = [(f"dte-{n}.xml", "application/xml", f"<DTE n='{n}'/>".encode()) for n in range(65)]
    run_mail(mail_with(*parts))
    message = MailMessage.objects.get(source_id="01.eml")
    assert message.status == MailMessage.Status.PROCESSED and message.attachments.count() == 65


def test_a_nested_message_yields_its_own_attachments(run_mail):
    run_mail(nested_message())
    names = set(Attachment.objects.filter(message__source_id="01.eml").values_list("original_filename", flat=True))
    assert "inner.pdf" in names


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("corrupt.pdf", GOOD_PDF[: len(GOOD_PDF) // 2], "damaged"),
        ("encrypted.pdf", pdf(encrypt=StandardEncryption(userPassword="secret")), "encrypted"),
        ("absurd.pdf", pdf(pagesize=(100_000, 100_000)), "absurd"),
    ],
)
def test_pdfs_that_cannot_be_previewed_record_why(run_mail, name, data, reason):
    run_mail(mail_with((name, "application/pdf", data)))
    attachment = Attachment.objects.get(message__source_id="01.eml")
    assert attachment.status == Attachment.Status.STORED, "the file is kept even when it cannot be previewed"
    attachment = make_thumbnail(attachment)
    assert attachment.preview_status == Attachment.PreviewStatus.FAILED and reason in attachment.preview_error


def test_a_png_named_pdf_is_stored_as_the_png_it_is(run_mail):
    image = io.BytesIO()
    Image.new("RGB", (40, 20), "red").save(image, format="PNG")
    run_mail(mail_with(("factura.pdf", "application/pdf", image.getvalue())))
    attachment = Attachment.objects.get(message__source_id="01.eml")
    assert attachment.status == Attachment.Status.STORED
    assert attachment.content_type == attachment.blob.content_type == "image/png"
    assert attachment.preview_status == Attachment.PreviewStatus.NONE, "PDFium is never handed a PNG"


def test_duplicate_mail_is_stored_once_and_marked_a_copy(run_mail):
    data = mail_with(("f.pdf", "application/pdf", pdf(pagesize=(300, 300))), message_id="<dup@b.cl>")
    _run, inbox = run_mail(data, data)
    original = MailMessage.objects.get(internet_message_id="<dup@b.cl>", copy_of__isnull=True)
    assert MailMessage.objects.get(internet_message_id="<dup@b.cl>", copy_of=original).attachments.count() == 0
    assert Attachment.objects.filter(original_filename="f.pdf").count() == 1
    assert {"01.eml", "02.eml"} <= {p.name for p in (inbox / "processed").iterdir()}


def test_a_different_mail_under_a_known_message_id_is_stored_in_full(run_mail):
    first = mail_with(("a.pdf", "application/pdf", pdf(pagesize=(300, 300))), message_id="<reused@b.cl>")
    second = mail_with(("b.pdf", "application/pdf", pdf(pagesize=(400, 400))), message_id="<reused@b.cl>")
    run_mail(first, second)
    messages = MailMessage.objects.filter(internet_message_id="<reused@b.cl>")
    assert messages.count() == 2 and not messages.filter(copy_of__isnull=False).exists()
    assert sorted(Attachment.objects.filter(message__in=messages).values_list("original_filename", flat=True)) == [
        "a.pdf",
        "b.pdf",
    ]


def test_a_message_without_attachments_is_recorded_and_not_read_again(run_mail):
    _run, inbox = run_mail(mail_with())
    message = MailMessage.objects.get(source_id="01.eml")
    assert message.status == MailMessage.Status.PROCESSED and message.attachment_count == 0
    assert (inbox / "processed" / "01.eml").exists()


def test_a_mail_folder_that_is_gone_fails_the_run_with_its_reason(tmp_path):
    mailbox = Mailbox.objects.create(name="gone", settings={"path": str(tmp_path / "gone")})
    processed = process_mailbox(mailbox)
    assert processed.raised == [], "an unavailable source ends the run; the next tick starts another"
    assert processed.run.status == FetchRun.Status.FAILED
    assert processed.run.error.startswith("source unavailable: mail folder") and "does not exist" in processed.run.error
