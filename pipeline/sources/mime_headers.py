"""The header block of a message or of one of its parts, made into what the MIME reader needs.

The default policy's header classes take more than linear time on many values (they copy the
rest of a value for each token they take, and gather defects by summing lists: a fifth of a
second for an 8 KB field of ';' or of '"'), and recurse once per nested comment. So a part's
fields are read by the legacy compat32 reader of parameters, linear once a field's length and
';' are bounded, with mime_params telling what is malformed and decoding RFC 2047 file names.
Only the listed top-level fields (From, Subject...) go through the default policy, cut short.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from typing import TypeVar

from . import mime_params, transfer_encodings
from .base import MessageRefused

#: Longest value of a field we parse; past it a part is refused, and a listed header is cut.
#: Real ones stay far below: a 255-character non-ASCII file name in RFC 2231 form is some 2.5 KB.
MAX_FIELD_BYTES = 8 * 1024
#: Most bytes of part fields parsed for one message, a tenth of a second at its worst on a slow machine
#: (tests/unit/test_mime_header_attacks.py); the parts of a real mail of 200 attachments hold some 60 KB.
MAX_PARSED_BYTES = 256 * 1024
#: The fields of a part we read, and those a listing shows.
PART_FIELDS = ("Content-Type", "Content-Disposition", "Content-Transfer-Encoding")
LISTED_FIELDS = ("Message-ID", "From", "Subject", "Date")
#: Longest From and Message-ID listed: their parsers take time quadratic in a value's tokens (8 KB of
#: "(a)" took 0.7 s); a real sender, display name in encoded words and all, stays under a few hundred bytes.
MAX_ADDRESS_BYTES = 1024
#: Types of a message's text; a part of these is an attachment only when named or marked as one.
BODY_TYPES = frozenset({"text/plain", "text/html", "text/enriched", "text/richtext"})

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_T = TypeVar("_T")


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
    #: Fields the block gives more than once, and which one was followed: they concern the whole message.
    conflicts: list[str] = field(default_factory=list)


def message_headers(raw: bytes) -> MessageHeaders:
    """The listed fields of a top-level header block; a value too long to parse is cut, not refused."""
    msg = _listed_fields(raw)
    return MessageHeaders(
        internet_message_id=_header_text(msg, "Message-ID"),
        sender=_header_text(msg, "From"),
        subject=_header_text(msg, "Subject"),
        received_at=_parse_date(_header_text(msg, "Date")),
    )


def part_headers(raw: bytes, default_type: str, budget: ParseBudget) -> PartHeaders:
    """What a part's header block says about its content; raises MessageRefused past the parsing limits."""
    fields = _part_fields(raw)
    budget.bytes_left -= sum(len(value) for values in fields.values() for value in values)
    if budget.bytes_left < 0:
        raise MessageRefused(f"its parts' Content-* headers take more than {MAX_PARSED_BYTES // 1024} KB, the limit")
    part = PartHeaders(content_type=default_type)
    problems = part.problems

    def safely(what: str, read: Callable[[], _T]) -> _T | None:
        try:
            return read()
        except Exception as exc:  # the legacy reader raises on some malformed RFC 2231 parameters
            problems.append(f"malformed {what} header: {type(exc).__name__}: {_shown(exc)}")
            return None

    msg = EmailMessage(policy=email.policy.compat32)
    msg.set_default_type(default_type)
    followed: dict[str, mime_params.FieldValue] = {}
    for name in ("Content-Type", "Content-Disposition"):
        if readable := _readable(name, fields.get(name, []), problems):
            followed[name] = _followed(name, readable)
            msg[name] = followed[name].text
            if len(readable) > 1:
                part.conflicts.append(_conflict(name, [value.given for value in readable], followed[name].given))
    part.content_type = _unsurrogate(safely("Content-Type", msg.get_content_type) or default_type)
    boundary = safely("Content-Type", msg.get_boundary)
    part.boundary = boundary.encode("utf-8", "surrogateescape") if boundary else b""
    encodings = [_unfolded(value).strip().lower() for value in fields.get("Content-Transfer-Encoding", [])]
    part.encoding = _unsurrogate(encodings[0]) if encodings else ""
    if len(encodings) > 1:
        part.conflicts.append(_conflict("Content-Transfer-Encoding", encodings, encodings[0]))
    part.disposition = safely("Content-Disposition", msg.get_content_disposition)
    part.filename = _filename(safely("Content-Disposition", msg.get_filename), problems)
    for name, value in followed.items():
        if value.malformed:
            problems.append(f"malformed {name} header: {', '.join(value.malformed)}: {_cleaned(value.given)[:200]}")
    if part.encoding not in transfer_encodings.KNOWN:
        problems.append(f"unknown Content-Transfer-Encoding {part.encoding!r}; content delivered as is")
    return part


def _part_fields(raw: bytes) -> dict[str, list[str]]:
    """The values of each of PART_FIELDS in a header block, in their order; MessageRefused past a field's limits."""
    split = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    names = {name.lower(): name for name in PART_FIELDS}
    found: dict[str, list[str]] = {}
    for raw_name, value in split.raw_items():
        if (name := names.get(raw_name.lower())) is None:
            continue
        if len(value) > MAX_FIELD_BYTES:
            raise MessageRefused(f"a part's {name} header is longer than {MAX_FIELD_BYTES // 1024} KB, the limit")
        found.setdefault(name, []).append(value)
    return found


def _readable(name: str, values: list[str], problems: list[str]) -> list[mime_params.FieldValue]:
    """The values of a field the reader can read; one it cannot is a problem, and read as if absent."""
    readable = []
    for value in values:
        try:
            readable.append(mime_params.field_value(name, _unsurrogate(value)))
        except mime_params.UnreadableValue as exc:
            problems.append(f"malformed {name} header: {exc}")
    return readable


def _followed(name: str, values: list[mime_params.FieldValue]) -> mime_params.FieldValue:
    """Of a field given more than once, the value that hides least: RFC 2045 allows one, and readers differ
    on which they take (the standard library the first, some mail clients the last)."""
    if len(values) == 1:
        return values[0]
    readers = []
    for value in values:
        reader = EmailMessage(policy=email.policy.compat32)
        reader[name] = value.text
        readers.append(reader)
    if name == "Content-Type":  # a multipart's parts are read, then a file is kept, before a text is passed over
        preferences: tuple[Callable[[EmailMessage], bool], ...] = (
            lambda reader: reader.get_content_maintype() == "multipart" and bool(reader.get_boundary()),
            lambda reader: reader.get_content_type() not in BODY_TYPES,
        )
    else:  # a named file, then one marked as an attachment
        preferences = (
            lambda reader: reader.get_param("filename", header=name) is not None,
            lambda reader: reader.get_content_disposition() == "attachment",
        )
    for prefers in preferences:
        for value, reader in zip(values, readers, strict=True):
            try:
                if prefers(reader):
                    return value
            except Exception:  # the legacy reader raises on some malformed RFC 2231 parameters
                continue
    return values[0]


def _conflict(name: str, values: list[str], followed: str) -> str:
    shown = ", ".join(repr(_cleaned(value)[:100]) for value in values[:3]) + (", ..." if len(values) > 3 else "")
    return f"{len(values)} {name} fields where one is allowed ({shown}); read as {_cleaned(followed)[:100]!r}"


def _filename(name: str | None, problems: list[str]) -> str | None:
    if name and "=?" in name:
        name, decoded = mime_params.decode_words(name)
        name = name.strip()
        if not decoded:
            problems.append(f"the file name {_cleaned(name)[:200]!r} holds encoded words that could not be decoded")
    return _unsurrogate(name) if name else None


def _listed_fields(raw: bytes) -> EmailMessage:
    """A default-policy message of the listed fields of a header block, each cut to the longest listed."""
    split = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    msg = EmailMessage(policy=email.policy.default)
    names = {name.lower() for name in LISTED_FIELDS}
    for name, value in split.raw_items():
        if name.lower() in names:
            msg.set_raw(name, value[: MAX_ADDRESS_BYTES if name.lower() in ("from", "message-id") else MAX_FIELD_BYTES])
    return msg


def _unfolded(value: str) -> str:
    return value.replace("\r", "").replace("\n", "")


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
    return _cleaned(value)


def _cleaned(value: str) -> str:
    """`value` on one line, without control characters, for a person to read."""
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
