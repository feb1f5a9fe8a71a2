"""The one way XML is read: no DTD, nothing loaded from outside, our own error texts, a size cap.

The bytes are decoded here, by the encoding the XML spec's appendix F detects (a byte-order
mark, or the first bytes, then the declaration), and text that holds `<!DOCTYPE` or `<!ENTITY`
anywhere is refused before libxml2 sees it. libxml2 then parses the UTF-8 of exactly that text,
its own encoding detection overridden, so no encoding can hide a DTD from the check; a DTD that
got through anyway is refused after the parse. Its parser answers every DTD, entity or other
resource it asks for with nothing (`RefusingResolver`): it opens no file and no URL.
libxml2's messages are not passed on (they may name a file or a URL): a failed parse is
recorded as the kind of error and its line and column, in our words.

The declared encoding is checked against the bytes, each correction noted for people: a file
declared ISO-8859-1 (or windows-1252) whose bytes are UTF-8 holding multi-byte sequences is read
as UTF-8; one declared UTF-8 (or undeclared) whose bytes are not UTF-8 is read as ISO-8859-1, or
as windows-1252 when it holds bytes 0x80-0x9F (so does ISO-8859-1 that really is windows-1252:
€, quotes, dashes). Text that mixes UTF-8 with stray bytes is read as UTF-8, the stray bytes
replaced. Other encodings are read as declared.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from lxml import etree

from pipeline import sandbox

from .files import MAX_XML_BYTES

_DECLARATION = re.compile(rb"^(\xef\xbb\xbf)?\s*<\?xml[^>]*\?>", re.DOTALL)
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_C1 = re.compile(rb"[\x80-\x9f]")
_NON_ASCII = re.compile(rb"[\x80-\xff]")
_LATIN1 = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1"}
#: The single-byte encodings that a UTF-8 file is often mislabelled with.
_WESTERN = _LATIN1 | {"windows-1252", "cp1252", "x-cp1252"}
#: Markup that only a DTD holds. XML keywords are case-sensitive; libxml2 knows no other spelling.
_DTD_MARKUP = re.compile(r"<!(?:DOCTYPE|ENTITY)")

#: Byte-order marks (UTF-32's first: FF FE 00 00 also starts UTF-16LE's), then the first bytes
#: of a document that opens with "<?" in an encoding without one (the XML spec, appendix F).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SIGNATURES = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
_EBCDIC = b"\x4c\x6f\xa7\x94"  # "<?xm" in EBCDIC, which libxml2 (as lxml ships it) does not read


class XmlRejected(ValueError):
    """The bytes are not XML we accept; the message says why, for people (never a path or a URL)."""


class RefusingResolver(etree.Resolver):
    """Every DTD, entity or other resource libxml2 asks for is empty: no file or URL is ever opened.

    Needed although the DTD is refused before parsing: with `load_dtd=False`, `no_network=True`
    and `resolve_entities=False`, libxml2 2.14 still loads an external parameter entity (for
    one, when lxml's `collect_ids` is off).
    """

    def resolve(self, system_url: str, public_id: str, context: Any = None) -> Any:  # lxml passes a context
        return self.resolve_string("", context, base_url=None)


def _parser() -> etree.XMLParser:
    parser = etree.XMLParser(
        encoding="utf-8",  # what parse_xml hands over, whatever the declaration says
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
        attribute_defaults=False,
        remove_comments=True,
        remove_pis=True,
    )
    parser.resolvers.add(RefusingResolver())
    return parser


def declared_encoding(data: bytes) -> str:
    return _declared_label(data).lower()


def _declared_label(data: bytes) -> str:
    match = _DECLARATION.match(data)
    found = _ENCODING.search(match.group(0)) if match else None
    return found.group(1).decode("ascii") if found else ""


def parse_xml(data: bytes, *, max_bytes: int = MAX_XML_BYTES, notes: list[str] | None = None) -> etree._Element:
    """The root element of `data`, or XmlRejected with the reason.

    How the bytes were read when that is not what they declare is appended to `notes`.
    """
    if len(data) > max_bytes:
        raise XmlRejected(f"XML larger than the {max_bytes // (1024 * 1024)} MB limit; not parsed")
    if not data.strip():
        raise XmlRejected("the file is empty")
    text, codec, note = _decoded(data)
    if _DTD_MARKUP.search(text):
        raise XmlRejected(_DTD_REFUSED)
    root = _parse(data if codec == "utf-8" and not note else text.encode("utf-8"))
    if note and notes is not None:
        notes.append(note)
    return root


def starts_like_xml(data: bytes) -> bool:
    """True when `data` opens with "<" (after a byte-order mark and blanks), in any encoding `_decoded` reads."""
    if data.startswith(_EBCDIC) or any(data.startswith(signature) for signature, _ in _SIGNATURES):
        return True
    bom, codec = next(((bom, codec) for bom, codec in _BOMS if data.startswith(bom)), (b"", "latin-1"))
    return data[len(bom) : len(bom) + 256].decode(codec, errors="ignore").lstrip(" \t\r\n").startswith("<")


def _decoded(data: bytes) -> tuple[str, str, str]:
    """(the text, the codec it was read with, a note when that is not what the file declares), as an XML
    parser would read `data`; XmlRejected when unreadable."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return _decode(data[len(bom) :], codec, label=codec, offset=len(bom)), codec, ""
    for signature, codec in _SIGNATURES:
        if data.startswith(signature):
            return _decode(data, codec, label=codec), codec, ""
    if data.startswith(_EBCDIC):
        raise XmlRejected("unreadable XML encoding: EBCDIC")
    label = _declared_label(data)[:40]
    declared = label.lower()
    if declared in _WESTERN:
        if _NON_ASCII.search(data) and (utf8 := _utf8(data)) is not None:
            return utf8, "utf-8", f"declared {label} but written in UTF-8; read as UTF-8"
        return _western(data, latin1=declared in _LATIN1)
    try:
        codec = codecs.lookup(declared or "utf-8").name
    except LookupError:
        raise XmlRejected(f"unreadable XML encoding: {label}") from None
    if codec != "utf-8":
        return _decode(data, codec, label=label), codec, ""
    if (utf8 := _utf8(data)) is not None:
        return utf8, "utf-8", ""
    return _not_utf8(data, f"declared {label}" if label else "no encoding declared")


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _western(data: bytes, *, latin1: bool) -> tuple[str, str, str]:
    """ISO-8859-1 text, or windows-1252 (labelled ISO-8859-1 by Windows when it holds 0x80-0x9F)."""
    if latin1 and not _C1.search(data):
        return data.decode("iso-8859-1"), "iso8859-1", ""
    return data.decode("cp1252", errors="replace"), "cp1252", ""


def _not_utf8(data: bytes, declared: str) -> tuple[str, str, str]:
    """Text said (or taken) to be UTF-8 that is not: single-byte text, or UTF-8 with stray bytes in it."""
    mixed = data.decode("utf-8", errors="replace")
    if any(ord(char) > 0x7F and char != "\ufffd" for char in mixed):  # real multi-byte sequences beside the bad bytes
        return (
            mixed,
            "utf-8",
            f"{declared} but not all of it is UTF-8; read as UTF-8, the other bytes replaced by \ufffd",
        )
    text, codec, _ = _western(data, latin1=True)
    name = "ISO-8859-1" if codec == "iso8859-1" else "windows-1252"
    return text, codec, f"{declared} but not written in UTF-8; read as {name}"


def _decode(data: bytes, codec: str, *, label: str, offset: int = 0) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise XmlRejected(f"not well-formed XML: bytes that are not {label} at byte {offset + exc.start}") from None
    except LookupError:  # a codec that is not for text (base64, zlib...)
        raise XmlRejected(f"unreadable XML encoding: {label}") from None


_DTD_REFUSED = "the XML declares a DTD (DOCTYPE); refused: entities are never expanded or fetched"


def _parse(utf8: bytes) -> etree._Element:
    try:
        root = etree.fromstring(utf8, _parser())
    except etree.XMLSyntaxError as exc:
        if _code(exc) == etree.ErrorTypes.ERR_NO_MEMORY or sandbox.near_memory_cap():  # libxml2 out of memory
            raise MemoryError("libxml2 ran out of memory") from None
        raise XmlRejected(_syntax_error(exc)) from None
    docinfo = root.getroottree().docinfo
    doctype = getattr(docinfo, "doctype", "")  # lxml-stubs do not know DocInfo.doctype
    if doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlRejected(_DTD_REFUSED)
    return root


#: Our words for the errors truncated or damaged files give; the others are named by libxml2's code.
_ERROR_TEXTS = {
    etree.ErrorTypes.ERR_DOCUMENT_EMPTY: "no root element",
    etree.ErrorTypes.ERR_DOCUMENT_END: "content after the root element",
    etree.ErrorTypes.ERR_TAG_NOT_FINISHED: "the file ends inside an element",
    etree.ErrorTypes.ERR_TAG_NAME_MISMATCH: "an end tag that does not match its start tag",
    etree.ErrorTypes.ERR_GT_REQUIRED: "a tag without its closing >",
    etree.ErrorTypes.ERR_LTSLASH_REQUIRED: "an element without its end tag",
    etree.ErrorTypes.ERR_ATTRIBUTE_NOT_STARTED: "an attribute value without quotes",
    etree.ErrorTypes.ERR_ATTRIBUTE_NOT_FINISHED: "an attribute value without its closing quote",
    etree.ErrorTypes.ERR_NAME_REQUIRED: "a < or </ without a name after it",
    etree.ErrorTypes.ERR_INVALID_CHAR: "a character XML does not allow",
    etree.ErrorTypes.ERR_INVALID_CHARREF: "a character reference XML does not allow",
    etree.ErrorTypes.ERR_UNDECLARED_ENTITY: "an entity that is not defined",
    etree.ErrorTypes.ERR_ENTITYREF_SEMICOL_MISSING: "an & that starts no entity",
    etree.ErrorTypes.ERR_INVALID_ENCODING: "bytes that are not in the file's encoding",
}
_ERROR_NAMES = {
    getattr(etree.ErrorTypes, name): name for name in dir(etree.ErrorTypes) if name.startswith(("ERR_", "WAR_"))
}


def _syntax_error(exc: etree.XMLSyntaxError) -> str:
    """The error's kind, line and column: libxml2's own message may name a file or a URL."""
    code = _code(exc)
    named = _ERROR_NAMES.get(code, "ERR_SYNTAX").removeprefix("ERR_").replace("_", " ").lower()
    line, column = exc.position
    return f"not well-formed XML (truncated or damaged?): {_ERROR_TEXTS.get(code, named)}, line {line}, column {column}"


def _code(exc: etree.XMLSyntaxError) -> int:
    code: int = getattr(exc, "code", 0)  # lxml-stubs do not know ParseError.code
    return code


def local_name(element: etree._Element) -> str:
    tag = element.tag  # "{namespace}name" or "name": lxml has checked it, and QName's check again cost 2 µs a call
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def namespace(element: etree._Element) -> str:
    tag = element.tag
    return etree.QName(tag).namespace or "" if isinstance(tag, str) else ""
