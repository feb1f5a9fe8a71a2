"""What a parser understood from one file: plain dataclasses shared by every country's parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Kind(StrEnum):
    """What a file is, by its root: only ENVELOPE and DOCUMENT carry invoices."""

    ENVELOPE = "envelope"  # EnvioDTE / EnvioBOLETA: one or several DTE
    DOCUMENT = "document"  # a bare DTE
    RESPONSE = "response"  # RespuestaDTE: a receiver's acceptance or rejection
    RECEIPTS = "receipts"  # EnvioRecibos: acknowledgement of goods received (Ley 19.983)
    OTHER = "other"  # well-formed XML no parser claims
    INVALID = "invalid"  # refused: not well-formed, truncated, DTD, too large


@dataclass(frozen=True, slots=True)
class ParsedLine:
    name: str
    quantity: str = ""
    unit_price: str = ""
    amount: int | None = None
    exempt: bool = False


@dataclass(frozen=True, slots=True)
class ParsedReference:
    """A `Referencia`: ref_folio is text, as it may name a purchase order ("OC-55")."""

    line: int
    ref_type: str
    ref_folio: str
    ref_date: date | None = None
    code: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    country: str
    doc_type: int
    type_name: str
    folio: int
    issue_date: date | None
    issuer_rut: str
    issuer_rut_valid: bool
    issuer_rut_error: str
    issuer_name: str
    receiver_rut: str
    receiver_rut_valid: bool
    receiver_name: str
    net: int | None
    exempt: int | None
    vat: int | None
    total: int | None
    issuer_activity: str = ""
    issuer_address: str = ""
    receiver_activity: str = ""
    receiver_address: str = ""
    lines: tuple[ParsedLine, ...] = ()
    references: tuple[ParsedReference, ...] = ()
    #: The `<TED>` as the barcode carries it: ISO-8859-1 bytes, no namespace, no indentation.
    ted: bytes = b""
    resolution_number: int | None = None
    resolution_date: date | None = None
    #: Position of this DTE inside its file (0 for a bare DTE).
    position: int = 0

    @property
    def line_count(self) -> int:
        return len(self.lines)


@dataclass
class ParsedFile:
    format: str
    kind: Kind
    documents: list[ParsedDocument] = field(default_factory=list)
    #: One line for people: "EnvioDTE with 3 DTE", "RespuestaDTE from 76086428-5".
    summary: str = ""
    #: Why the file (or part of it) was not understood; empty when all went well.
    problems: list[str] = field(default_factory=list)
    resolution_number: int | None = None
    resolution_date: date | None = None
