"""The MIME reader's limits: hostile structure is refused in moments, and what the reader notices is kept.

Without limits the standard library's header classes take minutes on a few hundred kilobytes
of encoded words or parameters, and a message may hold any number of parts at any depth. Each
hostile input here is built whole in memory, read by the real reader, and must be refused (or
read) well within a few seconds; the times are printed (pytest -s) as a small benchmark.
"""

from __future__ import annotations

import io
import time

import pytest

from pipeline import config
from pipeline.sources.base import MessageRefused
from pipeline.sources.mime import Limits, MimeReader, read_headers
from pipeline.sources.mime_headers import MAX_FIELD_BYTES

#: Generous: each case ends in a fraction of a second; the unlimited reader took 6 to 25 s per crafted header.
SECONDS = 2.0
HEAD = b"From: a@b.cl\r\nMessage-ID: <hostile@b.cl>\r\nMIME-Version: 1.0\r\n"
ENCODED_WORD = b"=?utf-8?q?a?= "


def multipart(*parts: bytes, boundary: bytes = b"b") -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return (
        HEAD
        + b'Content-Type: multipart/mixed; boundary="'
        + boundary
        + b'"\r\n\r\n'
        + body
        + b"--"
        + boundary
        + b"--\r\n"
    )


def read_all(raw: bytes, limits: Limits | None = None) -> tuple[list[tuple[str, bytes]], list[str]]:
    reader = MimeReader(io.BytesIO(raw), limits)
    found = [(attachment.filename, b"".join(attachment.open_chunks())) for attachment in reader.attachments()]
    return found, reader.problems


def timed(label: str, action, *, within: float = SECONDS):
    started = time.perf_counter()
    try:
        return action()
    finally:
        elapsed = time.perf_counter() - started
        print(f"\n{label}: {elapsed:.3f} s")
        assert elapsed < within, f"{label} took {elapsed:.1f} s"


def one_megabyte_of_encoded_words() -> bytes:
    return ENCODED_WORD * (1024 * 1024 // len(ENCODED_WORD))


def refused(raw: bytes, label: str) -> str:
    with pytest.raises(MessageRefused) as caught:
        timed(label, lambda: read_all(raw))
    return str(caught.value)


def test_the_limits_are_settings_with_defaults_real_mail_never_reaches():
    limits = Limits()
    assert (limits.header_bytes, limits.headers, limits.parts, limits.depth) == (1024 * 1024, 1000, 1000, 50)
    assert limits.header_bytes == config.MIME_MAX_HEADER_BYTES and limits.parts == config.MIME_MAX_PARTS
    assert config.MAX_ATTACHMENTS_PER_MESSAGE == 200


@pytest.mark.parametrize(
    ("size", "reason"),
    [
        (1024 * 1024, "its headers take more than 1024 KB, the limit"),
        (256 * 1024, "a part's Content-Disposition header is longer than 8 KB, the limit"),
    ],
    ids=["1 MB", "256 KB"],
)
def test_a_long_line_of_encoded_words_in_a_parts_header_is_refused_at_once(size, reason):
    words = ENCODED_WORD * (size // len(ENCODED_WORD))
    raw = multipart(
        b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="' + words + b'"\r\n\r\n%PDF'
    )
    assert refused(raw, f"{size // 1024} KB of encoded words in Content-Disposition") == reason
    just_under = ENCODED_WORD * ((MAX_FIELD_BYTES - 64) // len(ENCODED_WORD))
    raw = multipart(
        b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="' + just_under + b'"\r\n\r\n%PDF'
    )
    [(name, data)], _ = timed("8 KB of encoded words, the longest field parsed", lambda: read_all(raw))
    assert data == b"%PDF" and name.startswith("a")


def test_a_subject_of_encoded_words_is_listed_cut_short_and_the_message_read():
    """The Subject is parsed for the listing only, cut to the longest field parsed (the unlimited listing parsed it all)."""
    raw = HEAD + b"Subject: " + ENCODED_WORD * 17_000 + b"\r\n\r\nbody\r\n"
    headers = timed("listing a 240 KB Subject of encoded words", lambda: read_headers(io.BytesIO(raw)))
    assert headers.internet_message_id == "<hostile@b.cl>" and headers.subject.startswith("a" * 500)
    assert len(headers.subject) < MAX_FIELD_BYTES // 10
    assert timed("reading it", lambda: read_all(raw)) == ([], [])


def test_a_hundred_thousand_folded_lines_in_a_header_the_reader_parses_are_refused():
    raw = multipart(b"Content-Type: application/pdf;\r\n" + b" a=b;\r\n" * 100_000 + b"\r\n%PDF")
    assert refused(raw, "100k folded lines in Content-Type") == (
        "a part's Content-Type header is longer than 8 KB, the limit"
    )


def test_a_header_block_past_the_byte_limit_is_refused_before_it_is_held():
    raw = HEAD + b"X-Filler: " + b"x" * (2 * 1024 * 1024) + b"\r\n\r\nbody\r\n"
    assert refused(raw, "a 2 MB header") == "its headers take more than 1024 KB, the limit"


def test_the_header_bytes_of_all_parts_count_together():
    """Parsing costs more than linear time per byte: many parts of long headers add up, so the limit is per message."""
    part = b"Content-Type: application/pdf\r\nX-Filler: " + b"x" * 4000 + b"\r\n\r\n%PDF"
    assert refused(multipart(*[part] * 300), "300 parts of 4 KB headers") == (
        "its headers take more than 1024 KB, the limit"
    )
    found, _ = read_all(multipart(*[part] * 200))
    assert len(found) == 200


def test_too_many_header_fields_are_refused():
    raw = HEAD + b"X-A: b\r\n" * 100_000 + b"\r\nbody\r\n"
    assert refused(raw, "100k header fields") == "a header block holds more than 1000 fields, the limit"


def test_a_hundred_thousand_tiny_parts_are_refused():
    raw = multipart(*[b"Content-Type: application/octet-stream\r\n\r\nx"] * 100_000)
    assert refused(raw, "100k tiny parts") == "it has more than 1000 MIME parts, the limit"
    found, problems = read_all(multipart(*[b"Content-Type: application/octet-stream\r\n\r\nx"] * 999))
    assert len(found) == 999 and problems == [], "999 parts and their multipart are 1000, the limit"


def nested_multiparts(levels: int) -> bytes:
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level) for level in range(levels)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % level for level in reversed(range(levels)))
    return HEAD + opening + b"Content-Type: application/pdf\r\n\r\n%PDF" + closing


def test_multiparts_nested_ten_thousand_deep_are_refused():
    assert refused(nested_multiparts(10_000), "multiparts nested 10k deep") == (
        "its parts are nested more than 50 levels deep, the limit"
    )
    [(_, data)], problems = read_all(nested_multiparts(50))
    assert data == b"%PDF" and problems == [], "50 levels are read"
    with pytest.raises(MessageRefused):
        read_all(nested_multiparts(51))


def test_nested_comments_in_a_content_type_become_a_problem_not_a_crash():
    """The standard library's parser recurses once per "(": a few thousand overflow the stack."""
    raw = multipart(b"Content-Type: application/pdf" + b"(" * 3000 + b"\r\nContent-Disposition: attachment\r\n\r\n%PDF")
    [(name, data)], _ = read_all(raw)
    assert data == b"%PDF" and name == "attachment-1.txt"


def test_the_worst_headers_within_the_limits_cost_a_second_or_two_not_hours():
    """Every part's two parsed fields at their longest, until the bytes the reader parses for one message run out."""
    parameters = b" a=b;" * ((MAX_FIELD_BYTES - 64) // 5)
    part = b"Content-Type: application/pdf;" + parameters + b"\r\nContent-Disposition: attachment;" + parameters
    raw = multipart(*[part + b"\r\n\r\nx"] * 100)
    with pytest.raises(MessageRefused, match="Content-\\* headers take more than 256 KB"):
        timed("the worst headers within the limits", lambda: read_all(raw), within=4 * SECONDS)
    name = b"factura-electronica-76086428-5-folio-000123.pdf"
    part = b'Content-Type: application/pdf; name="' + name + b'"\r\nContent-Disposition: attachment; filename="' + name
    found, _ = read_all(multipart(*[part + b'"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg=='] * 999))
    assert len(found) == 999 and found[0] == (name.decode(), b"%PDF"), "real parts parse far less than the limit"


# What the reader notices outside any attachment is kept for the message.


def test_a_boundary_that_never_comes_says_the_content_was_not_read():
    raw = (
        HEAD
        + b'Content-Type: multipart/mixed; boundary="other"\r\n\r\n--b\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n'
    )
    assert read_all(raw) == ([], ["the boundary of a multipart/mixed part never comes; its content was not read"])


def test_problems_in_the_headers_of_a_text_part_or_a_multipart_are_kept():
    text = b"Content-Type: text/plain; charset*0*=bogus'''%%%; charset*1=\"x\r\n\r\nhello"
    inner = (
        b"Content-Type: multipart/alternative; boundary=\"in\"; name*0*=bogus'''%%%; name*1=\"x\r\n\r\n--in\r\n"
        + text
        + b"\r\n--in--"
    )
    found, problems = read_all(multipart(inner))
    assert found == []
    assert [problem.split(":")[:2] for problem in problems] == [
        ["multipart/alternative part", " malformed Content-Type header"],
        ["text/plain part", " malformed Content-Type header"],
    ]
