"""A streaming MIME reader for .eml files: attachments are decoded chunk by chunk, never whole.

The stdlib parser decodes whole payloads into memory, so this pull parser walks the raw
bytes line by line (each line read in bounded pieces) and uses the stdlib only for the
header block of each part. Malformed input never raises: it ends up as problem texts.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from pipeline import config

from . import transfer_encodings
from .base import CHUNK_SIZE, IncomingAttachment, MessageRefused
from .mime_headers import BODY_TYPES, MessageHeaders, ParseBudget, PartHeaders, message_headers, part_headers

#: Longest piece of a line read at once; longer lines arrive in several pieces.
LINE_LIMIT = 64 * 1024
#: Bytes read from the file at once, and the most a part's body is handed on in one piece.
BLOCK_SIZE = 64 * 1024
#: Most bytes of a uuencoded body handed on in one piece.
UU_PIECE_SIZE = 4 * 1024
#: What read_headers reads at once: a listing reads little more than the header block.
HEADER_BLOCK_SIZE = 8 * 1024
#: A decoded piece at least this long goes on unjoined.
_PASS_ON = CHUNK_SIZE // 4
#: How many message/rfc822 levels we walk into; a deeper message is delivered as a .eml file.
MAX_MESSAGE_DEPTH = 10

UNCLOSED = "multipart boundary never closed; part may be truncated"
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_Piece = tuple[bytes, bool]  # bytes of a line (or of a piece of a long line), and whether it starts a line
_TOO_MANY_BYTES, _TOO_MANY_FIELDS = "bytes", "fields"
_CR, _LF = ord("\r"), ord("\n")


@dataclass(frozen=True)
class Limits:
    """What one message may hold before it is refused (MessageRefused); pipeline/config.py sets them."""

    header_bytes: int = field(default_factory=lambda: config.MIME_MAX_HEADER_BYTES)  # all header blocks together
    headers: int = field(default_factory=lambda: config.MIME_MAX_HEADERS)  # fields in one header block
    parts: int = field(default_factory=lambda: config.MIME_MAX_PARTS)  # MIME parts, multiparts and texts too
    depth: int = field(default_factory=lambda: config.MIME_MAX_DEPTH)  # parts inside parts


class _Lines:
    """Line pieces of at most `limit` bytes from a binary file, with one piece of push-back.

    The file is read `block` bytes at a time; `read_block()` hands out the lines that cannot
    be a boundary line (those that do not start with "--") as one run, without splitting them.
    """

    def __init__(self, fp: BinaryIO, limit: int = LINE_LIMIT, block: int = BLOCK_SIZE) -> None:
        self._fp, self._limit, self._block = fp, limit, block
        self._buffer = b""
        self._position = 0  # of the next unread byte in the buffer
        self._eof = False
        self._line_start = True
        self._last: tuple[int, bool] | None = None  # where the last piece began, for unread()

    def _fill(self, wanted: int) -> int:
        """Bytes available after the position, reading on until `wanted` are (or the file ends)."""
        available = len(self._buffer) - self._position
        if available < wanted and not self._eof:
            pieces = [self._buffer[self._position :]] if available else []
            while available < wanted:
                data = self._fp.read(max(self._block, wanted - available))
                if not data:
                    self._eof = True
                    break
                pieces.append(data)
                available += len(data)
            self._buffer, self._position = pieces[0] if len(pieces) == 1 else b"".join(pieces), 0
        return available

    def read(self) -> _Piece | None:
        start, wanted = self._position, 1
        while True:  # read on only as far as this line needs
            available = self._fill(wanted)
            start = self._position
            newline = self._buffer.find(b"\n", start, start + min(available, self._limit))
            if newline >= 0 or available > self._limit or self._eof:
                break
            wanted = available + 1
        if not available:
            return None
        buffer = self._buffer
        end = newline + 1 if newline >= 0 else start + min(available, self._limit)
        if newline < 0 and end - start == self._limit and buffer[end - 1 : end + 1] == b"\r\n":
            end += 1  # keep a CRLF split at the limit together, so a line ending is never cut in two
        piece = (buffer[start:end], self._line_start)
        self._last = (start, self._line_start)
        self._position, self._line_start = end, buffer[end - 1] == _LF
        return piece

    def unread(self, piece: _Piece) -> None:
        """Push back `piece`, the one `read()` returned last: its bytes are still in the buffer."""
        if self._last is None or self._position - self._last[0] != len(piece[0]):
            raise RuntimeError("only the piece read last can be pushed back")
        self._position, self._line_start = self._last
        self._last = None

    def read_block(self, most: int = BLOCK_SIZE) -> bytes:
        """Whole lines (or pieces of a long one) up to the next line that starts with "--", which is left unread.

        At most `most` bytes (and one block); b"" when such a line comes next, or at the end of the file.
        """
        self._last = None
        most = min(most, self._block)
        available = self._fill(most + 2)  # two more: a "--" just past the block is seen
        buffer, start = self._buffer, self._position
        if self._line_start and buffer.startswith(b"--", start):
            return b""
        window = start + min(available, most + 2)
        dash = buffer.find(b"-", start, window)  # a single byte: a fast scan, and base64 has none
        hit = buffer.find(b"\n--", max(start, dash - 1), window) if dash >= 0 else -1
        if hit >= 0:
            end = hit + 1
        elif available <= most:  # the file ends within the block
            end = start + available
        else:  # cut after the last whole line, else inside a long line but never inside a CRLF
            end = buffer.rfind(b"\n", start, start + most) + 1 or start + most
            if buffer[end - 1] == _CR:
                end -= 1
        self._position = end
        if end > start:
            self._line_start = buffer[end - 1] == _LF
        return buffer[start:end]


def read_headers(fp: BinaryIO) -> MessageHeaders:
    """The Message-ID, sender, subject and date of a message; only its header block is read.

    A listing never refuses: a header block past the limits is read as far as they go.
    """
    lines = _Lines(fp, block=HEADER_BLOCK_SIZE)
    _skip_mbox_line(lines)
    limits = Limits()
    raw, _ = _header_block(lines, lambda piece: False, max_bytes=limits.header_bytes, max_fields=limits.headers)
    return message_headers(raw)


class MimeReader:
    """The attachments of one message file, in order, each streamed once from the open file.

    `attachments()` raises MessageRefused as soon as the message is past one of `limits`.
    """

    def __init__(self, fp: BinaryIO, limits: Limits | None = None) -> None:
        self._lines = _Lines(fp)
        self._limits = limits or Limits()
        self._stack: list[bytes] = []  # boundaries of the multiparts we are inside, outermost first
        self._count = 0
        self._parts = 0
        self._header_bytes = 0
        self._parse_budget = ParseBudget()
        self._eof_reported = False
        #: Problems that belong to no attachment (a part we could not read at all...).
        self.problems: list[str] = []

    def attachments(self) -> Iterator[IncomingAttachment]:
        _skip_mbox_line(self._lines)
        yield from self._entity(depth=0, nesting=0, default_type="text/plain")

    def _entity(self, *, depth: int, nesting: int, default_type: str) -> Iterator[IncomingAttachment]:
        part = self._part_headers(default_type)
        opened = part.content_type.startswith("multipart/") or (
            part.content_type == "message/rfc822"
            and part.encoding in transfer_encodings.PLAIN
            and depth < MAX_MESSAGE_DEPTH
        )
        if opened and nesting >= self._limits.depth:
            raise MessageRefused(f"its parts are nested more than {self._limits.depth} levels deep, the limit")
        if part.content_type.startswith("multipart/"):
            self._note(part)
            if not part.boundary:
                self.problems.append(f"a {part.content_type} part has no boundary; its content was not read")
                self._drain(self.problems)
                return
            yield from self._multipart(part, depth=depth, nesting=nesting + 1)
        elif opened:
            self._note(part)
            yield from self._entity(depth=depth + 1, nesting=nesting + 1, default_type="text/plain")
        elif part.filename or part.disposition == "attachment" or part.content_type not in BODY_TYPES:
            if part.content_type == "message/rfc822" and depth >= MAX_MESSAGE_DEPTH:
                part.problems.append(f"message nested more than {MAX_MESSAGE_DEPTH} levels deep; delivered whole")
            yield from self._leaf(part)
        else:
            self._note(part)
            self._drain(self.problems)

    def _part_headers(self, default_type: str) -> PartHeaders:
        """The next part's header block, read and parsed within the limits."""
        self._parts += 1
        if self._parts > self._limits.parts:
            raise MessageRefused(f"it has more than {self._limits.parts} MIME parts, the limit")
        raw, cut = _header_block(
            self._lines,
            lambda piece: self._boundary_of(piece) is not None,
            max_bytes=self._limits.header_bytes - self._header_bytes,
            max_fields=self._limits.headers,
        )
        if cut == _TOO_MANY_BYTES:
            raise MessageRefused(f"its headers take more than {self._limits.header_bytes // 1024} KB, the limit")
        if cut == _TOO_MANY_FIELDS:
            raise MessageRefused(f"a header block holds more than {self._limits.headers} fields, the limit")
        self._header_bytes += len(raw)
        part = part_headers(raw, default_type, self._parse_budget)
        self.problems.extend(f"{part.content_type} part: {conflict}" for conflict in part.conflicts)
        return part

    def _note(self, part: PartHeaders) -> None:
        """Keep what was found wrong in the headers of a part that is no attachment: it belongs to the message."""
        self.problems.extend(f"{part.content_type} part: {problem}" for problem in part.problems)

    def _multipart(self, part: PartHeaders, *, depth: int, nesting: int) -> Iterator[IncomingAttachment]:
        self._stack.append(part.boundary)
        level = len(self._stack) - 1
        child_type = "message/rfc822" if part.content_type == "multipart/digest" else "text/plain"
        children = 0
        while (hit := self._skip_to_boundary()) == (level, False):  # the first skip passes the preamble
            self._lines.read()
            children += 1
            yield from self._entity(depth=depth, nesting=nesting, default_type=child_type)
        if not children and hit != (level, True):
            self.problems.append(f"the boundary of a {part.content_type} part never comes; its content was not read")
            self._eof_reported = hit is None
        elif hit is None:
            self._report_eof(self.problems)
        elif hit[0] < level:  # an enclosing multipart goes on: ours was never closed
            self.problems.append(UNCLOSED)
        if hit == (level, True):
            self._lines.read()
        del self._stack[level:]
        if hit == (level, True):
            self._skip_to_boundary()  # the epilogue

    def _leaf(self, part: PartHeaders) -> Iterator[IncomingAttachment]:
        self._count += 1
        name = part.filename or f"attachment-{self._count}{_extension(part.content_type)}"
        attachment = IncomingAttachment(filename=name, content_type=part.content_type, problems=part.problems)
        # the uuencode decoder holds its two spools in memory up to SPOOL_MEMORY each: small pieces keep it there
        uuencoded = part.encoding in transfer_encodings.UUENCODE
        body = self._body(attachment.problems, most=UU_PIECE_SIZE if uuencoded else BLOCK_SIZE)
        opened: list[bool] = []
        passed: list[bool] = []

        def chunks() -> Iterator[bytes]:
            for chunk in _rechunk(transfer_encodings.decode(body, part.encoding, attachment.problems)):
                if passed:
                    break
                yield chunk
            if passed:
                raise RuntimeError(f"{name}: read after the next attachment was asked for")

        def open_chunks() -> Iterator[bytes]:
            if opened or passed:
                raise RuntimeError(f"{name}: open_chunks() can be called once, before the next attachment")
            opened.append(True)
            return chunks()

        attachment.open_chunks = open_chunks
        yield attachment
        passed.append(True)
        for _ in body:  # whatever the consumer did not read
            pass

    def _body(self, problems: list[str], *, most: int = BLOCK_SIZE) -> Iterator[bytes]:
        """Raw bytes of the current part, in blocks, up to the next boundary line, which is left unread.

        One block is held back: the line ending before a boundary belongs to the boundary.
        """
        held = b""
        while True:
            data = self._lines.read_block(most)
            if not data:  # a line that starts with "--" comes next, or the end of the file
                piece = self._lines.read()
                if piece is None:
                    break
                if self._boundary_of(piece) is not None:
                    self._lines.unread(piece)
                    if held:
                        yield _strip_eol(held)
                    return
                data = piece[0]
            if held:
                yield held
            held = data
        self._report_eof(problems)
        if held:
            yield held

    def _drain(self, problems: list[str]) -> None:
        if self._skip_to_boundary() is None:
            self._report_eof(problems)

    def _skip_to_boundary(self) -> tuple[int, bool] | None:
        """Skip to the next boundary line, left unread: (its stack level, is closing), None at EOF."""
        while True:
            while self._lines.read_block():
                pass
            piece = self._lines.read()
            if piece is None:
                return None
            if (hit := self._boundary_of(piece)) is not None:
                self._lines.unread(piece)
                return hit

    def _boundary_of(self, piece: _Piece) -> tuple[int, bool] | None:
        data, starts_line = piece
        if not starts_line or not self._stack or not data.startswith(b"--"):
            return None
        text = data.rstrip(b"\r\n").rstrip(b" \t")
        for level in range(len(self._stack) - 1, -1, -1):
            delimiter = b"--" + self._stack[level]
            if text == delimiter:
                return level, False
            if text == delimiter + b"--":
                return level, True
        return None

    def _report_eof(self, problems: list[str]) -> None:
        if self._stack and not self._eof_reported:
            self._eof_reported = True
            problems.append(UNCLOSED)


def _skip_mbox_line(lines: _Lines) -> None:
    piece = lines.read()
    if piece is not None and not piece[0].startswith(b"From "):
        lines.unread(piece)


def _header_block(
    lines: _Lines, is_boundary: Callable[[_Piece], bool], *, max_bytes: int, max_fields: int
) -> tuple[bytes, str]:
    """The header block of a part (its blank line is consumed), and "" or why reading it stopped short.

    Reading stops at the limit: the rest of a block past it is never held.
    """
    block = bytearray()
    fields = 0
    while (piece := lines.read()) is not None:
        data, starts_line = piece
        if starts_line and data in (b"\r\n", b"\n"):
            break
        folded = data[:1] in (b" ", b"\t")
        if is_boundary(piece) or (starts_line and not folded and not _HEADER_LINE.match(data)):
            lines.unread(piece)  # no blank line: the body (or the next part) starts here
            break
        if starts_line and not folded:
            fields += 1
            if fields > max_fields:
                return bytes(block), _TOO_MANY_FIELDS
        if len(block) + len(data) > max_bytes:
            return bytes(block), _TOO_MANY_BYTES
        block += data
    return bytes(block), ""


def _rechunk(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """The pieces, small ones joined and large ones cut, in chunks of at most CHUNK_SIZE bytes.

    A piece of at least a quarter chunk that fits goes on as it is, never copied: whatever is
    joined so far goes first, smaller than a chunk, so that one odd piece (a base64 block after
    a short line) does not send every later piece through the buffer.
    """
    buffer = bytearray()
    for piece in pieces:
        if buffer and (len(buffer) + len(piece) > CHUNK_SIZE or len(piece) >= _PASS_ON):
            yield bytes(buffer)
            buffer.clear()
        if len(piece) < _PASS_ON:
            buffer += piece
            continue
        for start in range(0, len(piece), CHUNK_SIZE):
            rest = piece[start : start + CHUNK_SIZE] if len(piece) > CHUNK_SIZE else piece
            if len(rest) < _PASS_ON:
                buffer += rest
            else:
                yield rest
    if buffer:
        yield bytes(buffer)


def _strip_eol(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith(b"\n") else line


def _extension(content_type: str) -> str:
    if content_type == "message/rfc822":
        return ".eml"
    return mimetypes.guess_extension(content_type, strict=False) or ".bin"
