"""Part headers crafted against the MIME reader's parse budget, and a second Content-Type that hides the parts.

The first two tests come from the attack review of branch attack1 (tests/unit/test_attack_findings.py
there). The CPU each crafted mail costs is printed (pytest -s): the figure the parse budget is held to.
"""

from __future__ import annotations

import io
import time

import pytest

from pipeline.sources.base import MessageRefused
from pipeline.sources.mime import MimeReader
from pipeline.sources.mime_headers import MAX_FIELD_BYTES, MAX_PARSED_BYTES
from pipeline.sources.mime_params import MAX_FIELD_PARAMETERS

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
