"""Safe filenames and content types, decided from what the sender gave and the bytes themselves."""

from __future__ import annotations

import mimetypes
import re
import unicodedata

#: Longest filename we hand back in a download.
MAX_FILENAME_LENGTH = 150

_UNSAFE = re.compile(r'[\x00-\x1f\x7f-\x9f"\\/<>:|?*]')

#: Unicode categories that never belong in a name: invisible format characters (Cf: bidi overrides
#: and isolates U+202A-U+202E, U+2066-U+2069, zero-widths U+200B-U+200F, U+FEFF...) are dropped;
#: lone surrogates and line or paragraph separators become "_", as control characters do (_UNSAFE).
_DROPPED_CATEGORIES = {"Cf"}
_REPLACED_CATEGORIES = {"Cs", "Zl", "Zp"}

_SIGNATURES = [
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"PK\x03\x04", "application/zip"),
]


def without_format_characters(text: str) -> str:
    """`text` without invisible format characters (Unicode Cf), which can make "fdp.exe" read "exe.pdf"."""
    return "".join(char for char in text if unicodedata.category(char) not in _DROPPED_CATEGORIES)


def safe_filename(raw: str, *, fallback: str) -> str:
    """The last path component of `raw`, without control, format or path characters, of bounded length."""
    name = without_format_characters(unicodedata.normalize("NFC", raw or ""))
    name = "".join("_" if unicodedata.category(char) in _REPLACED_CATEGORIES else char for char in name)
    name = re.split(r"[\\/]", name)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    if not name or set(name) <= {"_", "."}:
        name = fallback
    if len(name) > MAX_FILENAME_LENGTH:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_FILENAME_LENGTH - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_FILENAME_LENGTH]
    return name


def sniff_content_type(head: bytes, *, declared: str, filename: str) -> str:
    """The type the bytes prove, else what the sender declared, else what the name suggests."""
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature) or (signature == b"%PDF-" and signature in head[:1024]):
            return content_type
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<?xml") or (text.startswith(b"<") and filename.lower().endswith(".xml")):
        return "application/xml"
    declared = (declared or "").split(";")[0].strip().lower()
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


#: Extensions whose promise we check against the bytes: a mismatch is noted on the attachment.
_EXTENSION_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "xml": "application/xml",
    "zip": "application/zip",
}
_TYPE_WORDS = {
    "application/pdf": "PDF",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "application/xml": "XML",
    "text/xml": "XML",
    "application/zip": "ZIP",
}


def name_content_mismatch(filename: str, content_type: str) -> str:
    """A readable note when the name promises one kind of file and the bytes are another, else ""."""
    expected = _EXTENSION_TYPES.get(filename.rpartition(".")[2].lower()) if "." in filename else None
    if expected is None or expected == content_type or {expected, content_type} <= {"application/xml", "text/xml"}:
        return ""
    said = _TYPE_WORDS[expected]
    actual = _TYPE_WORDS.get(content_type, content_type or "unknown")
    return f"the name says {said} but the content is {actual}; stored as {content_type or 'unknown'}"
