"""The MIME reader reads its file in blocks, and a block's edge changes nothing it finds."""

import base64
import email
import io
import os

import pytest

from pipeline.sources.mime import BLOCK_SIZE, LINE_LIMIT, MimeReader
from tests.unit.test_mime import multipart, read_all


class CountingFile(io.BytesIO):
    """Counts the calls that read from the file."""

    calls = 0

    def read(self, size=-1):
        self.calls += 1
        return super().read(size)

    def readline(self, size=-1):
        self.calls += 1
        return super().readline(size)


def test_a_big_base64_attachment_is_read_in_blocks_not_line_by_line():
    content = os.urandom(4 * 1024 * 1024)
    encoded = base64.encodebytes(content).replace(b"\n", b"\r\n")  # 76 columns: some 75,000 lines
    raw = multipart(
        b"Content-Type: application/pdf; name=big.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + encoded
    )
    fp = CountingFile(raw)
    [(attachment, data)] = [(a, b"".join(a.open_chunks())) for a in MimeReader(fp).attachments()]
    assert data == content and attachment.problems == []
    assert fp.calls <= len(raw) // BLOCK_SIZE + 10


def _stdlib_payloads(raw: bytes) -> list[bytes]:
    parts = email.message_from_bytes(raw).get_payload()
    return [part.get_payload(decode=True) for part in parts]


def _lines(size: int, eol: bytes) -> bytes:
    """`size` bytes of lines ending in `eol`."""
    count = (size - 100) // 80
    first = size - count * 80
    return b"y" * (first - len(eol)) + eol + (b"z" * (80 - len(eol)) + eol) * count


@pytest.mark.parametrize("shift", range(-12, 5))
@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_a_boundary_line_at_the_edge_of_a_block_is_found_whatever_the_offset(shift, eol):
    """Lines that start with "--" but are no boundary, and then the boundary, straddle a block's edge."""
    head = b'Content-Type: multipart/mixed; boundary="XYZ"' + eol + eol + b"--XYZ" + eol
    head += b"Content-Type: application/octet-stream; name=a.bin" + eol + eol
    # the first block starts after the "--" line; "--XYZ-" (no boundary) and then "--XYZ" come near its end
    start = b"--not the boundary" + eol + b"x" * 100 + eol + b"-" + eol + b"--" + eol
    body = start + _lines(BLOCK_SIZE + shift, eol) + b"--XYZ-" + eol
    tail = b"--XYZ" + eol + b"Content-Type: application/xml; name=b.xml" + eol + eol + b"<a/>" + eol + b"--XYZ--" + eol
    raw = head + body + eol + tail
    got = [data for _, data in read_all(raw)]
    assert got == _stdlib_payloads(raw)
    assert got[0].startswith(b"--not the boundary") and got[0].endswith(b"--XYZ-" + eol)
    assert got[1] == b"<a/>"


@pytest.mark.parametrize("shift", range(-3, 4))
def test_a_crlf_at_the_edge_of_a_block_in_a_line_longer_than_a_block_stays_whole(shift):
    """A line with no line break for more than a block is cut, but never between its CR and its LF."""
    long_line = b"w" * (BLOCK_SIZE + LINE_LIMIT + shift) + b"\r\n" + b"v" * 10
    raw = multipart(b"Content-Type: application/octet-stream; name=a.bin\r\n\r\n" + long_line)
    [(_attachment, data)] = read_all(raw)
    assert data == long_line == _stdlib_payloads(raw)[0]


def test_decoded_pieces_are_joined_when_small_cut_when_large_and_else_passed_on_uncopied():
    from pipeline.sources.base import CHUNK_SIZE
    from pipeline.sources.mime import _rechunk

    odd = os.urandom(CHUNK_SIZE + CHUNK_SIZE // 2)  # one block decoded with a carried-over one
    regular = [os.urandom(CHUNK_SIZE * 3 // 4) for _ in range(4)]
    lines = [os.urandom(57) for _ in range(3000)]  # quoted-printable and broken base64 come line by line
    pieces = [*lines[:10], odd, *regular, *lines]
    chunks = list(_rechunk(iter(pieces)))
    assert b"".join(chunks) == b"".join(pieces)
    assert all(0 < len(chunk) <= CHUNK_SIZE for chunk in chunks)
    assert all(any(chunk is piece for chunk in chunks) for piece in regular), "after an odd piece, no copying"
    assert len(chunks) <= 1 + 2 + 4 + len(lines) * 57 // CHUNK_SIZE + 1, "small pieces are joined into chunks"
