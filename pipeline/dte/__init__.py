"""Electronic tax documents (DTE): a safe XML reader, RUT checks and parsers behind a registry.

Plain Python: no Django, no Dramatiq. `parse_file(bytes)` classifies and parses one file
(`parse_path(path)` does it in the sandbox's child process);
importing this package registers every parser it ships (today: Chile's SII DTE and AEC).
"""

from . import aec, sii  # noqa: F401  (register the Chilean parsers)
from .model import Kind, ParsedAssignment, ParsedDocument, ParsedFile, ParsedLine, ParsedReference
from .registry import Format, formats, parse_file, parse_path, register
from .rut import check_digit, format_rut, parse_rut

#: Content types of stored attachments that go through the DTE parsers.
XML_CONTENT_TYPES = frozenset({"application/xml", "text/xml"})

__all__ = [
    "XML_CONTENT_TYPES",
    "Format",
    "Kind",
    "ParsedAssignment",
    "ParsedDocument",
    "ParsedFile",
    "ParsedLine",
    "ParsedReference",
    "check_digit",
    "format_rut",
    "formats",
    "parse_file",
    "parse_path",
    "parse_rut",
    "register",
]
