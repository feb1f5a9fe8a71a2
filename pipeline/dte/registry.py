"""Parsers keyed by the format they detect; the actors only ever call `parse_file`.

A parser for another country (El Salvador's JSON DTE, Guatemala's FEL XML) registers a
`Format` with a detector and a parse function; nothing else changes.

`parse_path` (pipeline/dte/files.py) is what the worker calls: the file is read and parsed in
the sandbox's child process (pipeline/sandbox.py), so a huge or hostile XML costs that child its
memory, CPU or wall-clock limit, never the worker, and a parse that blocks can always be killed.
The parsers this package ships register when this module is first asked to parse or list formats.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from .files import MAX_XML_BYTES, UNKNOWN_FORMAT, invalid, parse_path, parse_stored
from .model import Kind, ParsedFile
from .xmlsafe import XmlRejected, local_name, parse_xml, starts_like_xml

__all__ = ["UNKNOWN_FORMAT", "Format", "Payload", "formats", "parse_file", "parse_path", "parse_stored", "register"]

logger = logging.getLogger(__name__)


@dataclass
class Payload:
    """The bytes of one file; its XML tree is parsed (safely) once, on first use."""

    data: bytes
    content_type: str = ""
    #: The root element or the XmlRejected of the one parse. A plain per-instance memo: Python 3.11's
    #: cached_property holds one lock per class, so a parse that blocks would stop every other payload's.
    _parsed: etree._Element | XmlRejected | None = field(default=None, init=False, repr=False, compare=False)
    #: How the bytes were read when that is not what they declare ("declared ISO-8859-1 but written in
    #: UTF-8; read as UTF-8"): filled by the parse, added to the file's problems by `parse_file`.
    notes: list[str] = field(default_factory=list, init=False, compare=False)

    @property
    def looks_like_xml(self) -> bool:
        return starts_like_xml(self.data) or "xml" in self.content_type

    @property
    def xml_root(self) -> etree._Element:
        """The root element; raises XmlRejected (a rejection is raised again, not parsed again)."""
        if self._parsed is None:
            try:
                self._parsed = parse_xml(self.data, notes=self.notes)
            except XmlRejected as exc:
                self._parsed = exc
        if isinstance(self._parsed, XmlRejected):
            raise self._parsed
        return self._parsed


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


@functools.cache
def _shipped() -> None:
    """Register the parsers this package ships (they import this module: not at its import)."""
    from . import aec, sii  # noqa: F401


def formats() -> list[str]:
    _shipped()
    return list(_FORMATS)


def parse_file(data: bytes, *, content_type: str = "") -> ParsedFile:
    """Classify and parse one file, in this process; never raises for bad input (the result says what was wrong)."""
    _shipped()
    if len(data) > MAX_XML_BYTES:
        return invalid(f"larger than the {MAX_XML_BYTES // (1024 * 1024)} MB limit; not parsed")
    payload = Payload(data=data, content_type=content_type)
    try:
        result = _parsed(payload)
    except XmlRejected as exc:
        return invalid(str(exc))
    except MemoryError:
        raise  # the sandbox reports it as the memory limit
    except Exception as exc:  # a value no parser check foresaw: retrying reads the same bytes again
        logger.exception("parser failed on a file")
        return invalid(f"the parser could not read this file ({type(exc).__name__}: {str(exc)[:200]})")
    result.problems[:0] = payload.notes  # how the file was read comes before what was found in it
    return result


def _parsed(payload: Payload) -> ParsedFile:
    """The first registered format's parse of `payload`; raises what the parsers raise."""
    for fmt in _FORMATS.values():
        if fmt.detect(payload):
            return fmt.parse(payload)
    if payload.looks_like_xml:
        root = payload.xml_root
        return ParsedFile(format=UNKNOWN_FORMAT, kind=Kind.OTHER, summary=f"XML with root <{local_name(root)}>")
    return ParsedFile(format=UNKNOWN_FORMAT, kind=Kind.OTHER, summary="not a format any parser knows")
