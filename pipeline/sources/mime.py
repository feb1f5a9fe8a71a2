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
#: How many message/rfc822 levels we walk into; a deeper message is delivered as a .eml file.
MAX_MESSAGE_DEPTH = 10

UNCLOSED = "multipart boundary never closed; part may be truncated"
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_Piece = tuple[bytes, bool]  # bytes of a line (or of a piece of a long line), and whether it starts a line
_TOO_MANY_BYTES, _TOO_MANY_FIELDS = "bytes", "fields"


@dataclass(frozen=True)
class Limits:
    """What one message may hold before it is refused (MessageRefused); pipeline/config.py sets them."""

    header_bytes: int = field(default_factory=lambda: config.MIME_MAX_HEADER_BYTES)  # all header blocks together
    headers: int = field(default_factory=lambda: config.MIME_MAX_HEADERS)  # fields in one header block
    parts: int = field(default_factory=lambda: config.MIME_MAX_PARTS)  # MIME parts, multiparts and texts too
    depth: int = field(default_factory=lambda: config.MIME_MAX_DEPTH)  # parts inside parts


class _Lines:
    """Line pieces of at most `limit` bytes from a binary file, with one piece of push-back."""

    def __init__(self, fp: BinaryIO, limit: int = LINE_LIMIT) -> None:
        self._fp, self._limit = fp, limit
        self._carry = b""
        self._back: _Piece | None = None
        self._line_start = True

    def read(self) -> _Piece | None:
        if self._back is not None:
            piece, self._back = self._back, None
            return piece
        data = self._carry + self._fp.readline(self._limit - len(self._carry))
        self._carry = b""
        if data.endswith(b"\r") and len(data) >= self._limit:
            # keep a CRLF split at the limit together, so a line ending is never cut in two
            following = self._fp.read(1)
            if following == b"\n":
                data += following
            else:
                self._carry = following
        if not data:
            return None
        piece = (data, self._line_start)
        self._line_start = data.endswith(b"\n")
        return piece

    def unread(self, piece: _Piece) -> None:
        self._back = piece


def read_headers(fp: BinaryIO) -> MessageHeaders:
    """The Message-ID, sender, subject and date of a message; only its header block is read.

    A listing never refuses: a header block past the limits is read as far as they go.
    """
    lines = _Lines(fp)
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
        body = self._body(attachment.problems)
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

    def _body(self, problems: list[str]) -> Iterator[bytes]:
        """Raw lines of the current part up to the next boundary line, which is left unread.

        One line is held back: the line ending before a boundary belongs to the boundary.
        """
        held: bytes | None = None
        while (piece := self._lines.read()) is not None:
            if self._boundary_of(piece) is not None:
                self._lines.unread(piece)
                if held is not None:
                    yield _strip_eol(held)
                return
            if held is not None:
                yield held
            held = piece[0]
        self._report_eof(problems)
        if held is not None:
            yield held

    def _drain(self, problems: list[str]) -> None:
        if self._skip_to_boundary() is None:
            self._report_eof(problems)

    def _skip_to_boundary(self) -> tuple[int, bool] | None:
        """Skip to the next boundary line, left unread: (its stack level, is closing), None at EOF."""
        while (piece := self._lines.read()) is not None:
            if (hit := self._boundary_of(piece)) is not None:
                self._lines.unread(piece)
                return hit
        return None

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
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        while len(buffer) >= CHUNK_SIZE:
            yield bytes(buffer[:CHUNK_SIZE])
            del buffer[:CHUNK_SIZE]
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
