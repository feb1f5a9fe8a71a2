"""Electronic tax documents (DTE): a safe XML reader, RUT checks and parsers behind a registry.

Plain Python: no Django, no Dramatiq. `parse_file(bytes)` classifies and parses one file
(`parse_path(path)` does it in the sandbox's child process). Importing this package loads no
XML or crypto library (lxml, cryptography: about 15 MB a process): the web and the worker only
store and show what the child parsed. `parse_file`, `formats`, `register` and `Format` load the
parsers on first use, and the parsers this package ships (Chile's SII DTE and AEC) register then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .files import MAX_XML_BYTES, parse_path
from .model import Kind, ParsedAssignment, ParsedDocument, ParsedFile, ParsedLine, ParsedReference
from .rut import check_digit, format_rut, parse_rut

if TYPE_CHECKING:
    from .registry import Format, formats, parse_file, register

#: Content types of stored attachments that go through the DTE parsers.
XML_CONTENT_TYPES = frozenset({"application/xml", "text/xml"})

#: What pipeline/dte/registry.py holds (it imports lxml): loaded when first asked for.
_PARSERS = frozenset({"Format", "formats", "parse_file", "register"})

__all__ = [
    "MAX_XML_BYTES",
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


def __getattr__(name: str) -> Any:
    if name in _PARSERS:
        from . import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
