"""The header block of a message or of one of its parts, made into what the MIME reader needs.

The standard library's header classes take more than linear time on some values (many
encoded words, many parameters: minutes for a few hundred kilobytes), and its parser reads
Content-Type as soon as a block is parsed, nested comments there overflowing the stack. So a
block is split into fields by the legacy policy (which parses no value), the values we read
are measured first, and each is parsed once, by the default policy, only when short enough.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser

from . import transfer_encodings
from .base import MessageRefused

#: Longest value of a field we parse; past it a part is refused, and a listed header is cut.
#: Real ones stay far below: a 255-character non-ASCII file name in RFC 2231 form is some 2.5 KB.
MAX_FIELD_BYTES = 8 * 1024
#: Most bytes of part fields parsed for one message. The header classes take some 5 microseconds a
#: byte, so this is about a second; the parts of a real mail of 200 attachments hold some 60 KB.
MAX_PARSED_BYTES = 256 * 1024
#: The fields of a part we read, and those a listing shows.
PART_FIELDS = ("Content-Type", "Content-Disposition", "Content-Transfer-Encoding")
LISTED_FIELDS = ("Message-ID", "From", "Subject", "Date")

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class MessageHeaders:
    """The top-level headers a listing shows."""

    internet_message_id: str = ""
    sender: str = ""
    subject: str = ""
    received_at: dt.datetime | None = None


@dataclass
class ParseBudget:
    """What is left to parse of one message's part fields (MAX_PARSED_BYTES)."""

    bytes_left: int = MAX_PARSED_BYTES


@dataclass
class PartHeaders:
    content_type: str
    boundary: bytes = b""
    encoding: str = ""
    disposition: str | None = None
    filename: str | None = None
    problems: list[str] = field(default_factory=list)


def message_headers(raw: bytes) -> MessageHeaders:
    """The listed fields of a top-level header block; a value too long to parse is cut, not refused."""
    msg = _fields(raw, LISTED_FIELDS, too_long=lambda name, value: value[:MAX_FIELD_BYTES])
    return MessageHeaders(
        internet_message_id=_header_text(msg, "Message-ID"),
        sender=_header_text(msg, "From"),
        subject=_header_text(msg, "Subject"),
        received_at=_parse_date(_header_text(msg, "Date")),
    )


def part_headers(raw: bytes, default_type: str, budget: ParseBudget) -> PartHeaders:
    """What a part's header block says about its content; raises MessageRefused past the parsing limits."""

    def refuse(name: str, value: str) -> str:
        raise MessageRefused(f"a part's {name} header is longer than {MAX_FIELD_BYTES // 1024} KB, the limit")

    msg = _fields(raw, PART_FIELDS, too_long=refuse)
    budget.bytes_left -= sum(len(value) for _, value in msg.raw_items())
    if budget.bytes_left < 0:
        raise MessageRefused(f"its parts' Content-* headers take more than {MAX_PARSED_BYTES // 1024} KB, the limit")
    msg.set_default_type(default_type)
    part = PartHeaders(content_type=default_type)
    problems = part.problems

    def safely(what: str, read: Callable[[], object]) -> object:
        try:
            return read()
        except Exception as exc:  # the stdlib's header classes raise on some malformed values
            problems.append(f"malformed {what} header: {type(exc).__name__}: {_shown(exc)}")
            return None

    for name in ("Content-Type", "Content-Disposition"):
        if name in msg and safely(name, functools.partial(_parse_once, msg, name)) is None:
            del msg[name]  # unreadable: the part is read as if it had none
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


def _parse_once(msg: EmailMessage, name: str) -> bool:
    """Replace the raw value by its parsed header, which the message's accessors then use as it is."""
    msg.replace_header(name, msg[name])
    return True


def _fields(raw: bytes, wanted: tuple[str, ...], *, too_long: Callable[[str, str], str]) -> EmailMessage:
    """A default-policy message of the `wanted` fields of a header block, their values not parsed yet."""
    split = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    msg = EmailMessage(policy=email.policy.default)
    names = {name.lower() for name in wanted}
    for name, value in split.raw_items():
        if name.lower() in names:
            msg.set_raw(name, too_long(name, value) if len(value) > MAX_FIELD_BYTES else value)
    return msg


def _shown(exc: Exception) -> str:
    return str(exc)[:200]


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
