"""Part headers crafted against the MIME reader's parse budget, and a second Content-Type that hides the parts.

The first two tests come from the attack review of branch attack1 (tests/unit/test_attack_findings.py
there). The CPU each crafted mail costs is printed (pytest -s): the figure the parse budget is held to.
"""

from __future__ import annotations

import base64
import io
import time

import pytest

from pipeline import samples
from pipeline.sources.base import MessageRefused
from pipeline.sources.mime import MimeReader, read_headers
from pipeline.sources.mime_headers import MAX_FIELD_BYTES, MAX_PARSED_BYTES
from pipeline.sources.mime_params import MAX_FIELD_PARAMETERS
from tests.support.inline import process_folder
from webapp.inbox.models import MailMessage

#: CPU seconds one mail of crafted part headers may take; the standard library's header classes took 6 to 7.
CPU_SECONDS = 2.0


def _semicolon_mail(parts: int) -> bytes:
    """Parts whose Content-Type and Content-Disposition are 8 KB, under MAX_FIELD_BYTES, of mostly ';'."""
    pad = b";" * (8 * 1024 - 80)
    head = (
        b"From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
    )
    body = b"".join(
        b"--B\r\nContent-Type: application/pdf; name=a.pdf"
        + pad
        + b"\r\nContent-Disposition: attachment; filename=a.pdf"
        + pad
        + b"\r\n\r\nx\r\n"
        for _ in range(parts)
    )
    return head + body + b"--B--\r\n"


def _cpu_to_read(raw: bytes) -> tuple[float, str]:
    """CPU seconds the reader takes on `raw`, which it must refuse, and why it refused it."""
    started = time.process_time()
    reader = MimeReader(io.BytesIO(raw))
    with pytest.raises(MessageRefused) as refused:
        for _ in reader.attachments():
            pass
    return time.process_time() - started, str(refused.value)


def test_part_headers_within_the_parse_budget_cost_about_a_second_not_six():
    """mime_headers.MAX_PARSED_BYTES (256 KB) is "about a second" at 5 us a byte; but the stdlib gathers
    a header's defects by summing lists (TokenList.all_defects), quadratic in their number, and every
    empty parameter (';') is a defect: an 8 KB field takes 0.2 s, and one mail of 16 such parts 6 s of
    a worker's CPU before it is refused. Six hundred mails are an hour of a worker."""
    spent, _ = _cpu_to_read(_semicolon_mail(parts=20))
    print(f"\none mail of 20 parts of ';' headers: {spent:.3f} s of CPU")
    assert spent < 2.0, f"one mail of crafted part headers took {spent:.1f} s of CPU"


def _spread(filler: bytes, room: int, semicolons: int) -> bytes:
    piece = filler * ((room - semicolons) // (semicolons + 1) // len(filler))
    return b";".join([piece] * (semicolons + 1))


#: Field values the standard library's header parser takes more than linear time on (it copies the rest
#: of a value for every token it takes), given their length and how many ';' they may hold.
FIELDS = {
    "quotes": lambda room, semicolons: _spread(b'"', room, semicolons),
    "comments": lambda room, semicolons: _spread(b"(a)", room, semicolons),
    "nested comments": lambda room, semicolons: _spread(b"(" * 20 + b")" * 20, room, semicolons),
    "quoted pairs": lambda room, semicolons: _spread(b'"\\ \\ \\ \\ "', room, semicolons),
    "encoded words": lambda room, semicolons: _spread(b'"=?utf-8?q?a?= =?utf-8?b?YQ?="', room, semicolons),
    "a name of encoded words": lambda room, semicolons: b' filename="' + b"=?utf-8?q?a?= " * (room // 14 - 1) + b'"',
    "parameters": lambda room, semicolons: _spread(b" a=b", room, semicolons),
    "RFC 2231 sections": lambda room, semicolons: b";".join(
        b" name*%d*=utf-8''%s" % (number, b"%41" * (room // (semicolons + 1) // 3 - 8)) for number in range(semicolons)
    ),
    "quoted semicolons": lambda room, semicolons: b'"' + _spread(b"a", room, semicolons) + b'"',
}


@pytest.mark.parametrize("make", list(FIELDS.values()), ids=list(FIELDS))
def test_the_worst_part_headers_within_every_limit_cost_well_under_two_seconds(make):
    """Every part's two parsed fields at their longest, of the worst filler, until the parse budget runs out."""
    content_type, disposition = b"application/pdf;", b"attachment;"
    field = make(MAX_FIELD_BYTES - 64, MAX_FIELD_PARAMETERS - 2)
    assert len(content_type + field) <= MAX_FIELD_BYTES and field.count(b";") <= MAX_FIELD_PARAMETERS - 2
    part = b"--B\r\nContent-Type: " + content_type + field + b"\r\nContent-Disposition: " + disposition + field
    parts = MAX_PARSED_BYTES // (2 * len(field)) + 1
    raw = b"Content-Type: multipart/mixed; boundary=B\r\n\r\n" + (part + b"\r\n\r\nx\r\n") * parts + b"--B--\r\n"
    spent, reason = _cpu_to_read(raw)
    print(f"\n{parts} parts of {len(field) // 1024} KB fields of {field[:16]!r}...: {spent:.3f} s of CPU")
    assert "Content-* headers take more than" in reason, "read up to the parse budget"
    assert spent < CPU_SECONDS / 4, f"one mail of crafted part headers took {spent:.1f} s of CPU"


def test_a_field_of_more_parameters_than_a_mail_writes_is_read_up_to_the_limit_and_the_rest_noted():
    junk = b"; a=b" * MAX_FIELD_PARAMETERS
    raw = b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
    raw += b"Content-Type: application/pdf; name=a.pdf" + junk + b"; name=hidden.pdf\r\n\r\n%PDF\r\n--B--\r\n"
    [attachment] = list(MimeReader(io.BytesIO(raw)).attachments())
    assert attachment.filename == "a.pdf"
    assert f"more than {MAX_FIELD_PARAMETERS} parameters; the rest was not read" in attachment.problems[0]


@pytest.mark.django_db
def test_a_second_content_type_that_hides_the_invoice_is_recorded(tmp_path):
    """RFC 2045 allows one Content-Type per entity. A mail whose header block says text/plain and then
    multipart/mixed is read as plain text by the first one, silently: it ends processed, with no
    attachment and no error, while the invoice it carries is never stored (a reader that takes the
    last field, as some mail clients do, shows the PDF)."""
    pdf = samples.invoice_pdf(issuer_name="Escondida SpA", folio=77, total=119)
    hidden = (
        b"From: a@example.com\r\nSubject: Factura 77\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: application/pdf; name=Factura_77.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(pdf)
        + b"--B--\r\n"
    )
    process_folder(tmp_path / "box", (hidden,), name="dup", why="a mail with two Content-Type fields is read")
    message = MailMessage.objects.get(source_id="01.eml")
    assert message.attachments.exists() or message.error, (
        f"{message.status} with no attachment and no note of the second Content-Type"
    )


def test_listing_a_message_of_crafted_listed_fields_costs_a_small_fraction_of_a_second():
    """The address and Message-ID parsers take time quadratic in a value's tokens: 8 KB of '(a)' took 0.7 s,
    so the four fields 2.8 s. Linear reading takes about 0.1 s idle; the bound leaves room for a loaded CI."""
    crafted = ((b"From", b"(a)"), (b"Message-ID", b"(a)"), (b"Subject", b"\\ "), (b"Date", b"(a)"))
    block = b"".join(name + b": " + filler * (MAX_FIELD_BYTES // len(filler)) + b"\r\n" for name, filler in crafted)
    started = time.process_time()
    read_headers(io.BytesIO(block + b"\r\nbody\r\n"))
    spent = time.process_time() - started
    print(f"\nlisting 8 KB From, Message-ID, Subject and Date of crafted tokens: {spent:.3f} s of CPU")
    assert spent < 1.0, f"listing one message took {spent:.1f} s of CPU"
    sender = '"=?utf-8?q?Comercializadora_del_Sur_Ltda?=" <facturacion.electronica@comercializadora-del-sur.cl>'
    listed = read_headers(io.BytesIO(b"From: " + sender.encode() + b"\r\n\r\n"))
    assert listed.sender == "Comercializadora del Sur Ltda <facturacion.electronica@comercializadora-del-sur.cl>"


# A field given twice: the value that hides least is followed, and the conflict kept for the message.

PDF_PART = b"--B\r\nContent-Type: application/pdf; name=Factura_77.pdf\r\n\r\n%PDF\r\n--B--\r\n"
CONFLICT = "2 Content-Type fields where one is allowed"


def _read(raw: bytes) -> tuple[list[tuple[str, str]], list[str]]:
    reader = MimeReader(io.BytesIO(raw))
    found = [(attachment.filename, attachment.content_type) for attachment in reader.attachments()]
    return found, reader.problems


@pytest.mark.parametrize(
    "fields",
    [
        b"Content-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=B\r\n",
        b"Content-Type: multipart/mixed; boundary=B\r\nContent-Type: text/plain\r\n",
        b"Content-Type: multipart/mixed\r\nContent-Type: multipart/mixed; boundary=B\r\n",
    ],
    ids=["text first", "multipart first", "first without a boundary"],
)
def test_of_two_content_types_the_readable_multipart_is_followed_and_the_conflict_kept(fields):
    found, problems = _read(b"From: a@example.com\r\n" + fields + b"\r\n" + PDF_PART)
    assert found == [("Factura_77.pdf", "application/pdf")]
    assert any(CONFLICT in problem for problem in problems), problems


def test_a_part_with_two_content_types_is_kept_as_a_file_and_the_conflict_noted_on_the_message():
    part = b"--B\r\nContent-Type: text/plain\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--B--\r\n"
    found, problems = _read(b"Content-Type: multipart/mixed; boundary=B\r\n\r\n" + part)
    assert found == [("attachment-1.pdf", "application/pdf")]
    assert [problem.split(":")[0] for problem in problems] == ["application/pdf part"]
    assert CONFLICT in problems[0] and "read as 'application/pdf'" in problems[0]


def test_of_two_content_dispositions_the_one_that_names_a_file_is_followed():
    part = b"--B\r\nContent-Disposition: inline\r\nContent-Disposition: attachment; filename=nota.txt\r\n\r\nhola\r\n--B--\r\n"
    found, problems = _read(b"Content-Type: multipart/mixed; boundary=B\r\n\r\n" + part)
    assert found == [("nota.txt", "text/plain")]
    assert any("2 Content-Disposition fields" in problem for problem in problems), problems


def test_of_two_transfer_encodings_the_first_is_followed_and_the_conflict_noted():
    part = b"--B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
    part += b"Content-Transfer-Encoding: 7bit\r\n\r\nJVBERg==\r\n--B--\r\n"
    reader = MimeReader(io.BytesIO(b"Content-Type: multipart/mixed; boundary=B\r\n\r\n" + part))
    assert [b"".join(attachment.open_chunks()) for attachment in reader.attachments()] == [b"%PDF"]
    assert any("2 Content-Transfer-Encoding fields" in problem for problem in reader.problems), reader.problems


@pytest.mark.django_db
def test_a_second_content_type_is_recorded_on_the_message_beside_the_invoice_it_carries(tmp_path):
    hidden = b"From: a@example.com\r\nSubject: Factura 77\r\nContent-Type: text/plain\r\n"
    hidden += b"Content-Type: multipart/mixed; boundary=B\r\n\r\n" + PDF_PART
    process_folder(tmp_path / "box", (hidden,), name="dup", why="a mail with two Content-Type fields is read")
    message = MailMessage.objects.get(source_id="01.eml")
    assert message.status == MailMessage.Status.PROCESSED
    assert [a.original_filename for a in message.attachments.all()] == ["Factura_77.pdf"]
    assert message.error.startswith(f"multipart/mixed part: {CONFLICT} ('text/plain', 'multipart/mixed; boundary=B')")
