"""A streaming MIME reader for .eml files: attachments are decoded chunk by chunk, never whole.

The stdlib parser decodes whole payloads into memory, so this pull parser walks the raw
bytes line by line (each line read in bounded pieces) and uses the stdlib only for the
header block of each part. Malformed input never raises: it ends up as problem texts.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import functools
import mimetypes
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from typing import BinaryIO

from . import transfer_encodings
from .base import CHUNK_SIZE, IncomingAttachment

#: Longest piece of a line read at once; longer lines arrive in several pieces.
LINE_LIMIT = 64 * 1024
#: Largest header block kept per part; the rest is dropped with a problem.
MAX_HEADER_BYTES = 256 * 1024
#: How many message/rfc822 levels we walk into; a deeper message is delivered as a .eml file.
MAX_MESSAGE_DEPTH = 10
#: How many multipart levels we walk into in all.
MAX_MULTIPART_DEPTH = 50

UNCLOSED = "multipart boundary never closed; part may be truncated"
#: Types of a message's text; a part of these is an attachment only when named or marked as one.
BODY_TYPES = frozenset({"text/plain", "text/html", "text/enriched", "text/richtext"})
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_Piece = tuple[bytes, bool]  # bytes of a line (or of a piece of a long line), and whether it starts a line


@dataclass(frozen=True)
class MessageHeaders:
    """The top-level headers a listing shows."""

    internet_message_id: str = ""
    sender: str = ""
    subject: str = ""
    received_at: dt.datetime | None = None


@dataclass
class _Part:
    content_type: str
    boundary: bytes = b""
    encoding: str = ""
    disposition: str | None = None
    filename: str | None = None
    problems: list[str] = field(default_factory=list)


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
    """The Message-ID, sender, subject and date of a message; only its header block is read."""
    lines = _Lines(fp)
    _skip_mbox_line(lines)
    raw, _ = _header_block(lines, lambda piece: False)
    msg = BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    return MessageHeaders(
        internet_message_id=_header_text(msg, "Message-ID"),
        sender=_header_text(msg, "From"),
        subject=_header_text(msg, "Subject"),
        received_at=_parse_date(_header_text(msg, "Date")),
    )


class MimeReader:
    """The attachments of one message file, in order, each streamed once from the open file."""

    def __init__(self, fp: BinaryIO) -> None:
        self._lines = _Lines(fp)
        self._stack: list[bytes] = []  # boundaries of the multiparts we are inside, outermost first
        self._count = 0
        self._eof_reported = False
        #: Problems that belong to no attachment (a part we could not read at all...).
        self.problems: list[str] = []

    def attachments(self) -> Iterator[IncomingAttachment]:
        _skip_mbox_line(self._lines)
        yield from self._entity(depth=0, nesting=0, default_type="text/plain")

    def _entity(self, *, depth: int, nesting: int, default_type: str) -> Iterator[IncomingAttachment]:
        raw, overflow = _header_block(self._lines, lambda piece: self._boundary_of(piece) is not None)
        part = _parse_part(raw, default_type)
        if overflow:
            part.problems.append(f"header block longer than {MAX_HEADER_BYTES} bytes; the rest was ignored")
        if part.content_type.startswith("multipart/"):
            if not part.boundary or nesting >= MAX_MULTIPART_DEPTH:
                why = (
                    "has no boundary" if not part.boundary else f"is nested more than {MAX_MULTIPART_DEPTH} levels deep"
                )
                self.problems.append(f"a {part.content_type} part {why}; its content was not read")
                self._drain(self.problems)
                return
            yield from self._multipart(part, depth=depth, nesting=nesting + 1)
        elif (
            part.content_type == "message/rfc822"
            and part.encoding in transfer_encodings.PLAIN
            and depth < MAX_MESSAGE_DEPTH
        ):
            yield from self._entity(depth=depth + 1, nesting=nesting + 1, default_type="text/plain")
        elif part.filename or part.disposition == "attachment" or part.content_type not in BODY_TYPES:
            if part.content_type == "message/rfc822" and depth >= MAX_MESSAGE_DEPTH:
                part.problems.append(f"message nested more than {MAX_MESSAGE_DEPTH} levels deep; delivered whole")
            yield from self._leaf(part)
        else:
            self._drain(self.problems)

    def _multipart(self, part: _Part, *, depth: int, nesting: int) -> Iterator[IncomingAttachment]:
        self._stack.append(part.boundary)
        level = len(self._stack) - 1
        child_type = "message/rfc822" if part.content_type == "multipart/digest" else "text/plain"
        while (hit := self._skip_to_boundary()) == (level, False):  # the first skip passes the preamble
            self._lines.read()
            yield from self._entity(depth=depth, nesting=nesting, default_type=child_type)
        if hit is None:
            self._report_eof(self.problems)
        elif hit[0] < level:  # an enclosing multipart goes on: ours was never closed
            self.problems.append(UNCLOSED)
        else:
            self._lines.read()
        del self._stack[level:]
        if hit == (level, True):
            self._skip_to_boundary()  # the epilogue

    def _leaf(self, part: _Part) -> Iterator[IncomingAttachment]:
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


def _header_block(lines: _Lines, is_boundary: Callable[[_Piece], bool]) -> tuple[bytes, bool]:
    """The header block of a part (its blank line is consumed); True when it was cut short."""
    block = bytearray()
    overflow = False
    while (piece := lines.read()) is not None:
        data, starts_line = piece
        if starts_line and data in (b"\r\n", b"\n"):
            break
        if is_boundary(piece) or (starts_line and data[:1] not in (b" ", b"\t") and not _HEADER_LINE.match(data)):
            lines.unread(piece)  # no blank line: the body (or the next part) starts here
            break
        if len(block) + len(data) <= MAX_HEADER_BYTES:
            block += data
        else:
            overflow = True
    return bytes(block), overflow


def _parse_part(raw: bytes, default_type: str) -> _Part:
    msg = BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    msg.set_default_type(default_type)
    part = _Part(content_type=default_type)
    problems = part.problems

    def safely(what: str, read: Callable[[], object]) -> object:
        try:
            return read()
        except Exception as exc:  # the stdlib's header classes raise on some malformed values
            problems.append(f"malformed {what} header: {type(exc).__name__}: {exc}")
            return None

    part.content_type = str(safely("Content-Type", msg.get_content_type) or default_type)
    part.boundary = safely("Content-Type", lambda: (msg.get_boundary() or "").encode("utf-8", "surrogateescape")) or b""  # type: ignore[assignment]
    part.encoding = (
        str(safely("Content-Transfer-Encoding", lambda: msg.get("Content-Transfer-Encoding", "")) or "").strip().lower()
    )
    part.disposition = safely("Content-Disposition", msg.get_content_disposition)  # type: ignore[assignment]
    filename = safely("Content-Disposition", msg.get_filename)
    part.filename = _unsurrogate(str(filename)) if filename else None
    for name in ("Content-Type", "Content-Disposition"):
        if getattr(safely(name, functools.partial(msg.get, name)), "defects", None):
            problems.append(f"malformed {name} header: {_header_text(msg, name)[:200]}")
    if part.encoding not in transfer_encodings.KNOWN:
        problems.append(f"unknown Content-Transfer-Encoding {part.encoding!r}; content delivered as is")
    return part


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


def _unsurrogate(text: str) -> str:
    """Undecodable bytes the parser kept as surrogates become U+FFFD."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _header_text(msg: EmailMessage, name: str) -> str:
    try:
        value = str(msg.get(name, ""))
    except Exception:  # a malformed value the header classes choke on: keep it raw
        value = next((raw for key, raw in msg.raw_items() if key.lower() == name.lower()), "")
    value = _unsurrogate(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")
    return " ".join(_CONTROLS.sub("", value).split())


def _parse_date(value: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
