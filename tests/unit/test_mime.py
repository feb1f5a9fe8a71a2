import base64
import binascii
import datetime as dt
import email
import email.policy
import hashlib
import io
import os
import tracemalloc
from email.message import EmailMessage

import pytest

from pipeline.sources.base import CHUNK_SIZE
from pipeline.sources.mime import LINE_LIMIT, MAX_MESSAGE_DEPTH, UNCLOSED, MimeReader, read_headers

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\r\n"
XML = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<DTE><Folio>1</Folio><RznSoc>Compañía</RznSoc></DTE>\n'.encode(
    "latin-1"
)


def message(*, text: str = "Adjunto factura.", html: bool = False) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Proveedor <facturas@proveedor.cl>"
    msg["To"] = "dte@empresa.cl"
    msg["Subject"] = "Factura 123"
    msg["Message-ID"] = "<123@proveedor.cl>"
    msg.set_content(text)
    if html:
        msg.add_alternative(f"<p>{text}</p>", subtype="html")
    return msg


def read_all(raw: bytes) -> list[tuple[object, bytes]]:
    """(attachment, its decoded bytes) for every attachment, each read whole."""
    out = []
    for attachment in MimeReader(io.BytesIO(raw)).attachments():
        chunks = list(attachment.open_chunks())
        assert all(0 < len(chunk) <= CHUNK_SIZE for chunk in chunks)
        out.append((attachment, b"".join(chunks)))
    return out


def multipart(*parts: bytes, boundary: bytes = b"XYZ", close: bool = True) -> bytes:
    """A hand-written multipart/mixed message; each part is its raw header block + body."""
    head = (
        b'From: a@b.cl\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="'
        + boundary
        + b'"\r\n\r\npreamble\r\n'
    )
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return head + body + (b"--" + boundary + b"--\r\nepilogue\r\n" if close else b"")


def test_pdf_and_xml_come_back_identical_and_the_bodies_are_not_attachments():
    msg = message(html=True)
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="factura.pdf")
    msg.add_attachment(XML, maintype="application", subtype="xml", filename="dte.xml")
    got = read_all(msg.as_bytes())
    assert [(a.filename, a.content_type, data, a.problems) for a, data in got] == [
        ("factura.pdf", "application/pdf", PDF, []),
        ("dte.xml", "application/xml", XML, []),
    ]


def test_crlf_line_endings_and_8bit_parts_keep_their_bytes_but_not_the_boundarys_crlf():
    body = b"line one\r\nline two\r\n\r\n"
    raw = multipart(b"Content-Type: text/xml\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body)
    [(attachment, data)] = read_all(raw)
    assert data == body and attachment.filename == "attachment-1.xml"


def test_quoted_printable_attachment_is_decoded_line_by_line():
    raw = multipart(
        b"Content-Type: text/xml; name=dte.xml\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"<a>caf=C3=A9 con leche=\r\n larga</a>\r\n<b>l=C3=ADnea =3D dos</b>=\r\n"
    )
    [(attachment, data)] = read_all(raw)
    assert data == "<a>café con leche larga</a>\r\n<b>línea = dos</b>".encode()
    assert attachment.problems == []


def test_quoted_printable_built_by_the_stdlib_decodes_like_the_stdlib():
    msg = message()
    content = ("Línea con acentos: ñandú " * 20 + "\n") * 5
    msg.add_attachment(content, subtype="csv", cte="quoted-printable", filename="lista.csv")
    raw = msg.as_bytes()
    expected = email.message_from_bytes(raw, policy=email.policy.default).get_payload()[1].get_payload(decode=True)
    [(_, data)] = read_all(raw)
    assert data == expected and "ñandú".encode() in data


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"attachment; filename*=UTF-8''factura%20%C3%B1.pdf", "factura ñ.pdf"),
        (b'attachment; filename="=?utf-8?b?ZmFjdHVyYSDDsS5wZGY=?="', "factura ñ.pdf"),
        (b'attachment; filename="../../etc/passwd"', "../../etc/passwd"),
        (b'attachment; filename="=?utf-8?b?ImV2aWwiDQoucGRm?="', '"evil"\r\n.pdf'),
        (b'attachment; filename="factura \xf1.pdf"', "factura \ufffd.pdf"),
    ],
)
def test_filenames_are_decoded_but_returned_as_received(header, expected):
    raw = multipart(b"Content-Type: application/pdf\r\nContent-Disposition: " + header + b"\r\n\r\n%PDF")
    [(attachment, data)] = read_all(raw)
    assert attachment.filename == expected and data == b"%PDF"


def test_a_malformed_header_becomes_a_problem_not_a_crash():
    raw = multipart(
        b"Content-Type: application/pdf; name*0*=bogus'''%%%; name*1=\"x\r\nContent-Disposition: attachment; filename*=\r\n\r\n%PDF"
    )
    [(attachment, data)] = read_all(raw)
    assert data == b"%PDF" and attachment.content_type == "application/pdf"
    assert attachment.filename == "attachment-1.pdf"
    assert [text.split(":")[0] for text in attachment.problems] == [
        "malformed Content-Type header",
        "malformed Content-Disposition header",
    ]


def test_a_header_class_that_raises_becomes_a_problem(monkeypatch):
    def explode(self, failobj=None):
        raise IndexError("list index out of range")

    monkeypatch.setattr(EmailMessage, "get_filename", explode)
    raw = multipart(b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF")
    [(attachment, data)] = read_all(raw)
    assert data == b"%PDF" and attachment.filename == "attachment-1.pdf"
    assert attachment.problems == ["malformed Content-Disposition header: IndexError: list index out of range"]


def test_parts_without_a_name_get_one_from_their_type():
    raw = multipart(
        b"Content-Type: text/plain\r\n\r\nbody",
        b"Content-Type: image/png\r\n\r\npng",
        b"Content-Type: application/pdf\r\n\r\npdf",
    )
    assert [a.filename for a, _ in read_all(raw)] == ["attachment-1.png", "attachment-2.pdf"]


def test_attachments_of_a_forwarded_message_are_attachments_of_the_outer_one():
    inner = message(text="reenviado")
    inner.add_attachment(XML, maintype="application", subtype="xml", filename="inner.xml")
    outer = message()
    outer.add_attachment(PDF, maintype="application", subtype="pdf", filename="outer.pdf")
    outer.add_attachment(inner)
    outer.add_attachment(b"after", maintype="application", subtype="octet-stream", filename="after.bin")
    got = read_all(outer.as_bytes())
    assert [(a.filename, data) for a, data in got] == [("outer.pdf", PDF), ("inner.xml", XML), ("after.bin", b"after")]


def test_nesting_deeper_than_the_cap_is_delivered_whole_with_a_problem():
    msg = message()
    msg.add_attachment(b"deep", maintype="application", subtype="pdf", filename="deep.pdf")
    for _ in range(MAX_MESSAGE_DEPTH + 1):
        outer = message()
        outer.add_attachment(msg)
        msg = outer
    [(attachment, data)] = read_all(msg.as_bytes())
    assert attachment.content_type == "message/rfc822" and attachment.filename.endswith(".eml")
    assert b"deep.pdf" in data and "nested" in attachment.problems[0]


def test_a_boundary_that_never_closes_ends_the_part_at_eof_with_a_problem():
    raw = multipart(
        b"Content-Type: application/pdf; name=a.pdf\r\n\r\nfirst",
        b"Content-Type: application/xml; name=b.xml\r\n\r\n<x>\r\nstill",
        close=False,
    )
    (first, first_data), (second, second_data) = read_all(raw)
    assert first_data == b"first" and first.problems == []
    assert second_data == b"<x>\r\nstill\r\n" and second.problems == [UNCLOSED]


def test_an_inner_multipart_closed_by_its_parent_loses_nothing_after_it():
    inner = (
        b"Content-Type: multipart/related; boundary=IN\r\n\r\n--IN\r\nContent-Type: image/png; name=a.png\r\n\r\npng"
    )
    raw = multipart(inner, b"Content-Type: application/pdf; name=b.pdf\r\n\r\npdf")
    reader = MimeReader(io.BytesIO(raw))
    got = [(a.filename, b"".join(a.open_chunks())) for a in reader.attachments()]
    assert got == [("a.png", b"png"), ("b.pdf", b"pdf")]
    assert reader.problems == [UNCLOSED]


def test_sixty_attachments_and_a_zero_byte_one():
    msg = message()
    for number in range(60):
        msg.add_attachment(
            f"content {number}".encode() * number, maintype="application", subtype="pdf", filename=f"f{number}.pdf"
        )
    got = read_all(msg.as_bytes())
    assert [a.filename for a, _ in got] == [f"f{number}.pdf" for number in range(60)]
    assert [data for _, data in got] == [f"content {number}".encode() * number for number in range(60)]
    zero_byte, data = got[0]  # f0.pdf is empty
    assert data == b"" and zero_byte.problems == []


@pytest.mark.parametrize(
    "raw",
    [
        message(html=True).as_bytes(),
        b"just some text\nwithout any header\n",
        b"Subject: plain old mail\n\nno MIME here\n--XYZ\n",
        b"",
        b"\n\n\n",
    ],
)
def test_messages_without_attachments_yield_nothing(raw):
    assert read_all(raw) == []


@pytest.mark.parametrize(
    ("body", "expected", "problem"),
    [
        (b"QUJDRA", b"ABCD", "without padding"),
        (b"QUJDR", b"ABC", "truncated"),
        (b"QU\r\nJD RA\r\n=\r\n=", b"ABCD", None),
        (b"QQ==QUJD", b"A", "after its padding"),  # as binascii.a2b_base64: the padding ends it
        (b"QQ=\r\n=\r\n", b"A", None),
        (b"Q=U=JD", b"ABC", None),  # an "=" where no padding can be is ignored
        (b"QUJD*RA==", b"ABCD", "outside its alphabet"),
    ],
)
def test_damaged_base64_is_decoded_as_far_as_possible(body, expected, problem):
    raw = multipart(b"Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body)
    [(attachment, data)] = read_all(raw)
    assert data == expected
    assert (problem is None and attachment.problems == []) or any(problem in text for text in attachment.problems)


def test_an_unread_or_half_read_attachment_is_skipped_correctly():
    big = os.urandom(5 * CHUNK_SIZE + 123)
    msg = message()
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="unread.pdf")
    msg.add_attachment(big, maintype="application", subtype="octet-stream", filename="half.bin")
    msg.add_attachment(XML, maintype="application", subtype="xml", filename="last.xml")
    seen = {}
    for attachment in MimeReader(io.BytesIO(msg.as_bytes())).attachments():
        seen[attachment.filename] = attachment
        if attachment.filename == "half.bin":
            half_read = attachment.open_chunks()
            first = next(half_read)
            assert 0 < len(first) <= CHUNK_SIZE and big.startswith(first)
        elif attachment.filename == "last.xml":
            assert b"".join(attachment.open_chunks()) == XML
    assert list(seen) == ["unread.pdf", "half.bin", "last.xml"]
    # once the walk moved on, an attachment can no longer be read (it would read another part's bytes)
    with pytest.raises(RuntimeError, match="after the next attachment"):
        next(half_read)
    with pytest.raises(RuntimeError, match="once"):
        seen["unread.pdf"].open_chunks()


def test_a_very_long_line_is_read_in_bounded_pieces():
    long_line = b"x" * (3 * 1024 * 1024)
    raw = multipart(b"Content-Type: application/octet-stream; name=long.bin\r\n\r\n" + long_line)

    class Recording(io.BytesIO):
        largest = 0

        def readline(self, size=-1):
            line = super().readline(size)
            Recording.largest = max(Recording.largest, len(line))
            return line

    reader = MimeReader(Recording(raw))
    [(name, data)] = [(a.filename, b"".join(a.open_chunks())) for a in reader.attachments()]
    assert data == long_line and name == "long.bin"
    assert Recording.largest <= LINE_LIMIT


def test_an_mbox_from_line_before_the_headers_is_ignored():
    msg = message()
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="f.pdf")
    [(_attachment, data)] = read_all(b"From someone@example.com Tue Jul  1 10:00:00 2025\n" + msg.as_bytes())
    assert data == PDF


def test_read_headers_decodes_safely_and_reads_only_the_header_block():
    raw = (
        b"Message-ID: <abc@proveedor.cl>\r\n"
        b"From: =?utf-8?q?Jos=C3=A9_P=C3=A9rez?= <jose@proveedor.cl>\r\n"
        b"Subject: =?utf-8?b?RmFjdHVyYSDDsQ==?= con\r\n \tcontrol\x07 chars\x00\r\n"
        b"Date: Tue, 01 Jul 2025 10:00:00 -0400\r\n\r\n"
    )
    fp = io.BytesIO(raw + b"body\r\n" * 1000)
    headers = read_headers(fp)
    assert headers.internet_message_id == "<abc@proveedor.cl>"
    assert headers.sender == "José Pérez <jose@proveedor.cl>"
    assert headers.subject == "Factura ñ con control chars"
    assert headers.received_at == dt.datetime(2025, 7, 1, 14, 0, tzinfo=dt.UTC)
    assert fp.tell() <= len(raw) + LINE_LIMIT


@pytest.mark.parametrize("date", [b"not a date", b"Tue, 99 Foo 2025 99:99:99", b""])
def test_a_bad_date_is_none(date):
    assert read_headers(io.BytesIO(b"Subject: x\r\nDate: " + date + b"\r\n\r\n")).received_at is None


def test_memory_stays_small_while_a_30_mb_attachment_is_hashed(tmp_path):
    path = tmp_path / "big.eml"
    expected = hashlib.sha256()
    with open(path, "wb") as fp:
        fp.write(
            b'From: a@b.cl\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
            b"--B\r\nContent-Type: text/plain\r\n\r\nhola\r\n"
            b"--B\r\nContent-Type: application/pdf; name=big.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        )
        for _ in range(30 * 1024 * 1024 // (57 * 1024)):
            block = os.urandom(57 * 1024)
            expected.update(block)
            fp.write(base64.encodebytes(block).replace(b"\n", b"\r\n"))
        fp.write(b"--B--\r\n")

    tracemalloc.start()
    try:
        with open(path, "rb") as fp:
            digest, size = hashlib.sha256(), 0
            for attachment in MimeReader(fp).attachments():
                for chunk in attachment.open_chunks():
                    digest.update(chunk)
                    size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size > 29 * 1024 * 1024
    assert digest.hexdigest() == expected.hexdigest()
    assert peak < 4 * 1024 * 1024, f"peak traced memory {peak} bytes"


def uuencoded(data: bytes) -> bytes:
    lines = [binascii.b2a_uu(data[start : start + 45]) for start in range(0, len(data), 45)]
    return b"begin 644 dte.xml\n" + b"".join(lines) + b"`\nend\n"


@pytest.mark.parametrize("name", ["x-uuencode", "uuencode", "x-uue", "uue", "X-UUENCODE"])
def test_uuencoded_attachments_are_decoded(name):
    raw = multipart(
        b"Content-Type: application/xml; name=dte.xml\r\nContent-Transfer-Encoding: "
        + name.encode()
        + b"\r\n\r\nsee below\r\n"
        + uuencoded(XML * 50)
        + b"trailing words\r\n"
    )
    [(attachment, data)] = read_all(raw)
    assert data == XML * 50 and attachment.problems == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (uuencoded(XML).partition(b"\n")[2], "has no begin line"),
        (uuencoded(XML).replace(b"`\nend", b"\n`\nend"), "has an empty line before its end line"),
        (uuencoded(XML).replace(b"\n", b"\nM\xff\n", 2), "has a line that does not decode"),
    ],
)
def test_uuencode_the_stdlib_gives_up_on_is_delivered_as_it_came(body, problem):
    raw = multipart(
        b"Content-Type: application/xml; name=a.xml\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n" + body
    )
    [(attachment, data)] = read_all(raw)
    assert data == body
    assert email.message_from_bytes(raw).get_payload()[0].get_payload(decode=True) == body
    assert any(problem in text for text in attachment.problems)


def test_a_large_uuencoded_attachment_is_spooled_not_held():
    big = os.urandom(3 * 1024 * 1024)
    raw = multipart(
        b"Content-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: uuencode\r\n\r\n" + uuencoded(big)
    )
    tracemalloc.start()
    try:
        digest = hashlib.sha256()
        for attachment in MimeReader(io.BytesIO(raw)).attachments():
            for chunk in attachment.open_chunks():
                digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == hashlib.sha256(big).hexdigest()
    assert peak < 2 * 1024 * 1024 + 256 * 1024, f"peak traced memory {peak} bytes"
