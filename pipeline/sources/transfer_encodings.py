"""Content-Transfer-Encoding decoders that stream: raw body lines in, decoded bytes out.

Each decodes as `email.message.Message.get_payload(decode=True)` does (the differential test,
tests/unit/test_mime_reference.py, holds them to it); where the standard library would have
to hold the whole part to decide, we spool to a temporary file instead. Damage never raises:
it becomes a problem text.
"""

from __future__ import annotations

import binascii
import re
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO

import pybase64

from pipeline import config

from .base import CHUNK_SIZE

#: Encodings whose content is the body bytes themselves.
PLAIN = frozenset({"", "7bit", "8bit", "binary"})
#: The names the standard library decodes as uuencode.
UUENCODE = frozenset({"x-uuencode", "uuencode", "uue", "x-uue"})
#: Every encoding we decode; any other is delivered as is, with a problem.
KNOWN = PLAIN | UUENCODE | {"base64", "quoted-printable"}
#: Bytes of a spooled part kept in memory before it moves to a temporary file.
SPOOL_MEMORY = 1024 * 1024
#: Longest uuencoded line we decode whole (real ones are 61 characters); the rest is ignored.
UU_LINE_LIMIT = 64 * 1024

_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_ALL_BYTES = bytes(range(256))
_NOT_BASE64 = bytes(set(_ALL_BYTES) - set(_BASE64_ALPHABET + b"="))
_BASE64_OR_SPACE = _BASE64_ALPHABET + b"= \t\r\n\f\v"
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_CR = ord("\r")


def decode(lines: Iterable[bytes], encoding: str, problems: list[str]) -> Iterable[bytes]:
    """The decoded content of a part whose raw body is `lines` (the last without its line ending)."""
    if encoding == "base64":
        return _decode_base64(lines, problems)
    if encoding == "quoted-printable":
        return _decode_qp(lines)
    if encoding in UUENCODE:
        return _decode_uu(lines, problems)
    return lines


def note(problems: list[str], text: str) -> None:
    if text not in problems:
        problems.append(text)


def _decode_base64(lines: Iterable[bytes], problems: list[str]) -> Iterator[bytes]:
    """binascii.a2b_base64 (not strict) over the whole body, a block at a time.

    As there, characters outside the alphabet are ignored and decoding ends at the first
    complete padding: "QQ==" ends it, an "=" where no padding can be is ignored. Those rules
    are applied here, so what is decoded is whole groups of four alphabet characters (the last
    perhaps padded), where pybase64's strict decoder gives the same bytes several times faster.
    """
    lines = iter(lines)
    data = bytearray()  # alphabet characters not decoded yet
    position = 0  # of the next alphabet character in its group of four
    pads = 0  # "=" seen since the last alphabet character, counted from position 2 on
    ended, rest = False, b""
    for line in lines:
        even = _decode_even_lines(data, line)
        if even is not None:
            decoded, leftover = even
            if decoded:
                yield decoded
            data[:] = leftover
            position, pads = len(leftover), 0
            continue
        clean = line.translate(None, _NOT_BASE64)
        if line.translate(None, _BASE64_OR_SPACE):
            note(problems, "base64 content held characters outside its alphabet; they were ignored")
        runs = clean.split(b"=") if b"=" in clean else (clean,)
        for index, run in enumerate(runs):
            if index and position >= 2:  # an "=" came before this run
                pads += 1
                if position + pads >= 4:
                    ended = True
                    rest = b"".join(runs[index:])
                    break
            if run:
                data += run
                position, pads = (position + len(run)) % 4, 0
        if ended:
            break
        if len(data) >= CHUNK_SIZE:
            cut = len(data) - len(data) % 4
            yield pybase64.b64decode(data[:cut], validate=True)
            del data[:cut]
    if ended:
        if rest or any(line.translate(None, _NOT_BASE64).strip(b"=") for line in lines):
            note(problems, "base64 content went on after its padding; the rest was ignored")
    elif position == 1:
        # the standard library gives up here and returns the encoded text; we keep what decodes
        note(problems, "base64 content is truncated; its last byte could not be decoded")
        del data[-1:]
    elif position:
        note(problems, "base64 content ended without padding; it may be truncated")
    if data:
        yield pybase64.b64decode(bytes(data) + b"=" * (-len(data) % 4), validate=True)


def _decode_even_lines(data: bytearray, block: bytes) -> tuple[bytes, bytes] | None:
    """`data` and the block decoded, and the alphabet characters left over; None unless the
    block is lines of alphabet characters of one width, each ended by CRLF or each by LF, with no "=".

    Nearly every block of a real attachment is, and is decoded here without being stripped
    first: pybase64 skips the line breaks (as a2b_base64 does), and the length of what it
    decodes proves that every other character was in the alphabet.
    """
    first = block.find(b"\n")
    if first < 0 or b"=" in block:
        return None
    ending = 2 if first and block[first - 1] == _CR else 1  # CRLF or LF
    width = block.find(b"\n", first + 1) - first - ending
    if width <= 0:
        return None
    newlines = block[first :: width + ending]
    if newlines.lstrip(b"\n") or (ending == 2 and block[first - 1 :: width + 2].lstrip(b"\r")):
        return None
    letters = len(data) + len(block) - len(newlines) * ending
    cut = len(block) - letters % 4
    leftover = block[cut:]
    if leftover.translate(None, _BASE64_ALPHABET):
        return None
    try:
        decoded = pybase64.b64decode(bytes(data) + block[:cut] if data else block[:cut], validate=False)
    except binascii.Error:
        return None
    if len(decoded) * 4 != (letters - len(leftover)) * 3:
        return None  # some of the other characters were not in the alphabet
    return decoded, leftover


def _decode_qp(lines: Iterable[bytes]) -> Iterator[bytes]:
    """binascii.a2b_qp over the whole body (what quopri.decodestring does), a line at a time."""
    carry = b""
    for line in lines:
        data = carry + line if carry else line
        carry = b""
        if not data.endswith(b"\n"):  # a piece of a long line may end inside an =XX escape
            escape = data.rfind(b"=", max(0, len(data) - 2))
            if escape >= 0:
                data, carry = data[:escape], data[escape:]
        yield binascii.a2b_qp(data)
    if carry:
        yield binascii.a2b_qp(carry)


def _decode_uu(lines: Iterable[bytes], problems: list[str]) -> Iterator[bytes]:
    """email.message._decode_uu, streamed: the lines between `begin` and `end`, each a2b_uu'd.

    Where the standard library gives up (no `begin` line, an empty line or a line that will
    not decode before `end`) it returns the body as it came; so the raw body is spooled beside
    the decoded one until `end` shows which of the two is the content.
    """
    with _spool() as raw_file, _spool() as decoded_file:
        raw, decoded = _Capped(raw_file), _Capped(decoded_file)

        def teed() -> Iterator[bytes]:
            for line in lines:
                raw.write(line)
                yield line

        pieces = teed()
        failure = _uudecode_into(decoded, _split_lines(pieces))
        if failure:
            for _ in pieces:  # the rest of the body belongs to the raw content
                pass
            note(problems, f"uuencoded content {failure}; delivered as it came")
        content = raw_file if failure else decoded_file
        content.seek(0)
        while chunk := content.read(CHUNK_SIZE):
            yield chunk


class _Capped:
    """A spool that keeps the first MAX_ATTACHMENT_BYTES + 1 bytes written to it and drops the rest.

    One byte past the cap is enough for the reader to refuse the content (storage.spool does), and
    the spool folder never holds more than the cap for a part, however large the message.
    """

    def __init__(self, spool: IO[bytes]) -> None:
        self.spool = spool
        self.room = config.MAX_ATTACHMENT_BYTES + 1

    def write(self, data: bytes) -> None:
        if self.room > 0:
            self.spool.write(data[: self.room])
            self.room -= min(len(data), self.room)


def _uudecode_into(out: _Capped, lines: Iterator[bytes]) -> str:
    """Write the decoded lines to `out`; why decoding failed, or "" once `end` (or the body's end) came."""
    for line in lines:
        if line.startswith(b"begin "):
            mode, _, _path = line.removeprefix(b"begin ").partition(b" ")
            try:
                int(mode, base=8)
            except ValueError:
                continue
            break
    else:
        return "has no begin line"
    for line in lines:
        if not line:
            return "has an empty line before its end line"
        if line.strip(b" \t\r\n\f") == b"end":
            return ""
        try:
            out.write(binascii.a2b_uu(line))
        except binascii.Error:
            # what the standard library does for broken encoders: decode the length the line claims
            claimed = (((line[0] - 32) & 63) * 4 + 5) // 3
            try:
                out.write(binascii.a2b_uu(line[:claimed]))
            except binascii.Error as exc:
                return f"has a line that does not decode ({exc})"
    return ""


def _split_lines(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """bytes.splitlines() over a stream of pieces: each line without its ending, cut at UU_LINE_LIMIT."""
    line = bytearray()
    after_cr = False
    for piece in pieces:
        start = 1 if after_cr and piece.startswith(b"\n") else 0
        after_cr = False
        for match in _LINE_BREAK.finditer(piece, start):
            line += piece[start : match.start()][: UU_LINE_LIMIT - len(line)]
            yield bytes(line)
            line.clear()
            start = match.end()
            after_cr = match.group() == b"\r" and start == len(piece)
        line += piece[start:][: UU_LINE_LIMIT - len(line)]
    if line:
        yield bytes(line)


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, dir=str(config.spool_dir()))
