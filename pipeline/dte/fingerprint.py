"""What makes two copies of a DTE the same document: their content, not their bytes.

A copy re-encoded (ISO-8859-1 to UTF-8), re-indented or resent in another envelope has the same
content; a copy with an amount, a date, a RUT, a line or a reference changed does not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date
from decimal import Decimal
from typing import Any

from .model import ParsedDocument

#: What says where or how a copy travelled, or what is computed from the rest: not its content.
_NOT_CONTENT = frozenset(
    {
        "position",
        "resolution_number",
        "resolution_date",
        "type_name",
        "ted",
        "ted_check",
        "signature_check",
        "discrepancies",
        "issuer_rut_error",
    }
)

#: The fields a person compares copies by, in the order the admin shows them.
SUMMARY_FIELDS = (
    "issue_date",
    "issuer_name",
    "receiver_rut",
    "receiver_name",
    "currency",
    "net",
    "exempt",
    "vat",
    "other_taxes",
    "total",
    "due_date",
    "line_count",
)


def content_hash(document: ParsedDocument) -> str:
    """SHA-256 of the document's content as canonical JSON: equal for copies that say the same."""
    content = {
        field.name: getattr(document, field.name)
        for field in dataclasses.fields(document)
        if field.name not in _NOT_CONTENT
    }
    text = json.dumps(_plain(content), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def content_summary(document: ParsedDocument) -> dict[str, Any]:
    """The fields of SUMMARY_FIELDS as JSON values (dates ISO, amounts as text): what the admin shows."""
    return {name: _plain(getattr(document, name)) for name in SUMMARY_FIELDS}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, date | Decimal):
        return str(value)
    return value
