"""The one way XML is read: no DTD, no entity expansion, no network, a size cap.

lxml with resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False;
a document that declares a DOCTYPE is refused outright (a DTE never has one).
Declared ISO-8859-1 and windows-1252 are honoured; ISO-8859-1 that really is
windows-1252 (bytes 0x80-0x9F) and undeclared non-UTF-8 text are read as windows-1252.
"""

from __future__ import annotations

import re

from lxml import etree

from pipeline import config, sandbox

#: Largest XML we parse; a real EnvioDTE of hundreds of DTE is a few MB.
MAX_XML_BYTES = config.get("DTE_MAX_XML_MB") * 1024 * 1024

_DECLARATION = re.compile(rb"^(\xef\xbb\xbf)?\s*<\?xml[^>]*\?>", re.DOTALL)
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_C1 = re.compile(rb"[\x80-\x9f]")
_LATIN1 = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1"}


class XmlRejected(ValueError):
    """The bytes are not XML we accept; the message says why, for people."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def declared_encoding(data: bytes) -> str:
    match = _DECLARATION.match(data)
    found = _ENCODING.search(match.group(0)) if match else None
    return found.group(1).decode("ascii").lower() if found else ""


def _as_utf8(data: bytes, encoding: str) -> bytes:
    """Re-encode as UTF-8 with the declaration rewritten to say so."""
    text = data.decode(encoding, errors="replace")
    text = re.sub(
        r"^\ufeff?\s*<\?xml[^>]*\?>", '<?xml version="1.0" encoding="UTF-8"?>', text, count=1, flags=re.DOTALL
    )
    return text.encode("utf-8")


def parse_xml(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """The root element of `data`, or XmlRejected with the reason."""
    if len(data) > max_bytes:
        raise XmlRejected(f"XML larger than the {max_bytes // (1024 * 1024)} MB limit; not parsed")
    if not data.strip():
        raise XmlRejected("the file is empty")
    if _prolog_has_dtd(data):
        raise XmlRejected(_DTD_REFUSED)
    encoding = declared_encoding(data)
    if encoding in _LATIN1 and _C1.search(data):
        data = _as_utf8(data, "cp1252")  # labelled Latin-1, written by Windows: €, quotes, dashes
    try:
        root = _parse(data)
    except XmlRejected as exc:
        message = str(exc).lower()  # libxml2: "Input is not proper UTF-8", "Invalid bytes in character encoding"
        if encoding or not ("utf-8" in message or "encoding" in message):
            raise
        root = _parse(_as_utf8(data, "cp1252"))  # undeclared and not UTF-8: the usual Windows text
    return root


_DTD_REFUSED = "the XML declares a DTD (DOCTYPE); refused: entities are never expanded or fetched"


def _prolog_has_dtd(data: bytes) -> bool:
    """True when a DOCTYPE comes before the root element (ASCII-compatible encodings)."""
    position = 0
    while (start := data.find(b"<", position)) >= 0:
        if data.startswith(b"<?", start):
            position = data.find(b"?>", start) + 2
        elif data.startswith(b"<!--", start):
            position = data.find(b"-->", start) + 3
        else:
            return data[start : start + 9].upper() == b"<!DOCTYPE"
        if position < 2:  # an unterminated declaration or comment: the parser will say so
            return False
    return False


def _parse(data: bytes) -> etree._Element:
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        if "memory allocation failed" in str(exc).lower() or sandbox.near_memory_cap():  # libxml2 out of memory
            raise MemoryError(str(exc)) from None
        raise XmlRejected(f"not well-formed XML (truncated or damaged?): {exc}") from None
    except (LookupError, ValueError) as exc:  # an encoding lxml does not know
        raise XmlRejected(f"unreadable XML encoding: {exc}") from None
    docinfo = root.getroottree().docinfo
    doctype = getattr(docinfo, "doctype", "")  # lxml-stubs do not know DocInfo.doctype
    if doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlRejected(_DTD_REFUSED)
    return root


def local_name(element: etree._Element) -> str:
    tag = element.tag
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def namespace(element: etree._Element) -> str:
    tag = element.tag
    return etree.QName(tag).namespace or "" if isinstance(tag, str) else ""
