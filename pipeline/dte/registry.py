"""Parsers keyed by the format they detect; the actors only ever call `parse_file`.

A parser for another country (El Salvador's JSON DTE, Guatemala's FEL XML) registers a
`Format` with a detector and a parse function; nothing else changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from lxml import etree

from .model import Kind, ParsedFile
from .xmlsafe import MAX_XML_BYTES, XmlRejected, local_name, parse_xml

logger = logging.getLogger(__name__)

#: Format name of a file no registered parser claims.
UNKNOWN_FORMAT = "unknown"


@dataclass
class Payload:
    """The bytes of one file; its XML tree is parsed (safely) once, on first use."""

    data: bytes
    content_type: str = ""

    @property
    def looks_like_xml(self) -> bool:
        head = self.data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
        return head.startswith(b"<") or "xml" in self.content_type

    @cached_property
    def xml_root(self) -> etree._Element:
        """The root element; raises XmlRejected (cached exceptions are raised again, not re-parsed)."""
        return parse_xml(self.data)


@dataclass(frozen=True)
class Format:
    name: str
    #: True when this format is the file's; must not raise for files of other formats.
    detect: Callable[[Payload], bool]
    parse: Callable[[Payload], ParsedFile]


_FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    _FORMATS[fmt.name] = fmt
    return fmt


def formats() -> list[str]:
    return list(_FORMATS)


def parse_file(data: bytes, *, content_type: str = "") -> ParsedFile:
    """Classify and parse one file; never raises for bad input (the result says what was wrong)."""
    if len(data) > MAX_XML_BYTES:
        return ParsedFile(
            format=UNKNOWN_FORMAT,
            kind=Kind.INVALID,
            problems=[f"larger than the {MAX_XML_BYTES // (1024 * 1024)} MB limit; not parsed"],
        )
    payload = Payload(data=data, content_type=content_type)
    try:
        for fmt in _FORMATS.values():
            if fmt.detect(payload):
                return fmt.parse(payload)
        if payload.looks_like_xml:
            root = payload.xml_root
            return ParsedFile(format=UNKNOWN_FORMAT, kind=Kind.OTHER, summary=f"XML with root <{local_name(root)}>")
    except XmlRejected as exc:
        return ParsedFile(format=UNKNOWN_FORMAT, kind=Kind.INVALID, problems=[str(exc)])
    except MemoryError:
        raise
    except Exception as exc:  # a value no parser check foresaw: retrying reads the same bytes again
        logger.exception("parser failed on a file")
        return ParsedFile(
            format=UNKNOWN_FORMAT,
            kind=Kind.INVALID,
            problems=[f"the parser could not read this file ({type(exc).__name__}: {str(exc)[:200]})"],
        )
    return ParsedFile(format=UNKNOWN_FORMAT, kind=Kind.OTHER, summary="not a format any parser knows")
