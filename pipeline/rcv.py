"""The SII purchase register (RCV) CSV, read as a stream of rows. Plain Python, no Django.

The SII's download is `;`-separated, UTF-8 (with or without BOM) or windows-1252/ISO-8859-1, and its
columns differ between the registro, pendiente, no_incluir and reclamado lists, so columns are found by
header name. A row that cannot be read is a BadRow (its line and why); the rows after it are read on.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import PureWindowsPath
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.dte.rut import parse_rut

CHILE = ZoneInfo("America/Santiago")
REGISTERS = ("registro", "pendiente", "no_incluir", "reclamado")
#: Tipo Compra of the rows the receiver moved to "no incluir".
NOT_INCLUDED_KIND = "no corresp. incluir"
_BIGINT = 2**63 - 1
_SMALLINT = 32767
#: Longest line read (the SII's are well under 1 KiB): a line of 100 MB without a newline is refused
#: as it streams by, never held whole.
MAX_LINE_BYTES = 64 * 1024
#: Most cells a line may have: the SII's lists have about 30 columns.
MAX_COLUMNS = 200
_CHUNK = 64 * 1024
#: Years a date of the register may name: the SII's electronic documents began in 2003. Year 9999 cannot
#: be moved to UTC nor have the claim deadline's days added, year 1 is year 0 west of Chile.
YEARS = range(1990, 3000)

#: Header (normalised: no accents, lower case, single spaces) -> (field, kind).
COLUMNS: dict[str, tuple[str, str]] = {
    "nro": ("", "skip"),
    "tipo doc": ("doc_type", "code"),
    "tipo compra": ("purchase_kind", "text"),
    "rut proveedor": ("issuer_rut", "rut"),
    "razon social": ("issuer_name", "text"),
    "folio": ("folio", "folio"),
    "fecha docto": ("issue_date", "date"),
    "fecha recepcion": ("received_at", "instant"),
    "fecha acuse": ("acknowledged_at", "instant"),
    "fecha reclamo": ("claimed_at", "instant"),
    "monto exento": ("exempt", "amount"),
    "monto neto": ("net", "amount"),
    "monto iva recuperable": ("vat_recoverable", "amount"),
    "monto iva no recuperable": ("vat_not_recoverable", "amount"),
    "codigo iva no rec.": ("vat_not_recoverable_code", "code"),
    "monto total": ("total", "amount"),
    "monto neto activo fijo": ("fixed_asset_net", "amount"),
    "iva activo fijo": ("fixed_asset_vat", "amount"),
    "iva uso comun": ("vat_common_use", "amount"),
    "impto. sin derecho a credito": ("tax_without_credit", "amount"),
    "iva no retenido": ("vat_not_withheld", "amount"),
    "codigo otro impuesto": ("other_tax_code", "code"),
    "valor otro impuesto": ("other_tax_amount", "amount"),
    "tasa otro impuesto": ("other_tax_rate", "decimal"),
}
REQUIRED = ("doc_type", "issuer_rut", "folio")

_SII_NAME = re.compile(
    r"^RCV_COMPRA_(REGISTRO|PENDIENTE|NO_INCLUIR|RECLAMADO)_([0-9.]{1,12}-?[0-9K])_(\d{4})(\d{2})"
    r"(?:\s*\(\d+\))?\.csv$",
    re.IGNORECASE,
)
_SAMPLE_NAME = re.compile(r"^RCV-compra-(registro|pendiente|no_incluir|reclamado)\b", re.IGNORECASE)
_INTEGER = re.compile(r"^-?\d+$")
_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_INSTANT = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


class RcvFormatError(ValueError):
    """The file is not an SII purchase register at all (no header, a required column missing)."""


@dataclass(frozen=True)
class FileName:
    """What an RCV file's name says: register, receiver "76086428-5" and period "2024-01", or blanks."""

    register: str = ""
    receiver_rut: str = ""
    period: str = ""


@dataclass(frozen=True)
class RcvRow:
    """One document of the register. `values` holds the model's fields; `extra` the other columns."""

    line: int
    values: dict[str, Any]
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int, int]:
        return self.values["issuer_rut"], self.values["doc_type"], self.values["folio"]


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


def parse_file_name(name: str) -> FileName:
    """RCV_COMPRA_REGISTRO_76086428-5_202401.csv -> (registro, 76086428-5, 2024-01); samples give the register."""
    base = PureWindowsPath(name or "").name  # a browser may send a Windows path; "/" splits there too
    if match := _SII_NAME.match(base):
        register, rut, year, month = match.groups()
        parsed = parse_rut(rut)
        period = f"{year}-{month}" if 1 <= int(month) <= 12 else ""
        return FileName(register.lower(), parsed.normalized if parsed.valid else "", period)
    if match := _SAMPLE_NAME.match(base):
        return FileName(register=match.group(1).lower())
    return FileName()


def register_from_columns(headers: Iterable[str], first_purchase_kind: str = "") -> str:
    """Which list a file is, by its columns: Fecha Reclamo, Fecha Acuse (no_incluir by Tipo Compra), none."""
    names = {normalise_header(header) for header in headers}
    if "fecha reclamo" in names:
        return "reclamado"
    if "fecha acuse" in names:
        return "no_incluir" if normalise_header(first_purchase_kind) == NOT_INCLUDED_KIND else "registro"
    return "pendiente"


def normalise_header(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(plain.split()).lower()


def read_lines(source: Any) -> Iterator[bytes]:
    """The byte lines (ending in "\n") of `source`, a binary file (read in chunks) or an iterable of bytes.

    A line longer than MAX_LINE_BYTES is given as its first MAX_LINE_BYTES + 1 bytes, the rest dropped
    unread into memory: a 100 MB line (or a binary file with no newline) costs a chunk, not 100 MB.
    """
    chunks: Iterable[bytes] = iter(lambda: source.read(_CHUNK), b"") if hasattr(source, "read") else source
    pending = bytearray()
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            pending += chunk[start : min(end + 1, start + max(0, MAX_LINE_BYTES + 1 - len(pending)))]
            yield bytes(pending)
            pending.clear()
            start = end + 1
        pending += chunk[start : start + max(0, MAX_LINE_BYTES + 1 - len(pending))]
    if pending:
        yield bytes(pending)


class RcvReader:
    """Rows of one RCV file, streamed: `for row in RcvReader(lines)` gives RcvRow or BadRow.

    `lines` is a binary file object (or any iterable of bytes), read through read_lines. The header is
    read on construction (RcvFormatError when there is none, it cannot be read or it lacks a required
    column), and so is the first row, whose Tipo Compra tells registro from no_incluir (`register`).
    """

    def __init__(self, lines: Any) -> None:
        self._decoder = _LineDecoder()
        self._csv = csv.reader(self._decoder.decode(read_lines(lines)), delimiter=";")
        header = self._header()
        while header is not None and not any(cell.strip() for cell in header):
            header = self._header()
        if header is None:
            raise RcvFormatError("the file is empty: no header line")
        if len(header) > MAX_COLUMNS:
            raise RcvFormatError(f"not an SII purchase register: {len(header)} columns in the header")
        self.headers = [cell.strip() for cell in header]
        self._columns = self._map(self.headers)
        #: A row's values before its cells are read: every column's field blank.
        self._blank: dict[str, Any] = {
            name: "" if kind == "text" else None for name, kind in self._columns if kind not in {"skip", "extra"}
        }
        self._first = self._next()
        kind_at = next((i for i, (name, _) in enumerate(self._columns) if name == "purchase_kind"), None)
        first = self._first[1] if self._first and isinstance(self._first[1], list) else []
        first_kind = first[kind_at] if kind_at is not None and kind_at < len(first) else ""
        self.register = register_from_columns(self.headers, first_kind)

    def _header(self) -> list[str] | None:
        try:
            header = next(self._csv, None)
        except csv.Error as error:
            raise RcvFormatError(f"the header is not readable as CSV: {error}") from None
        if problem := self._decoder.problem_at(self._csv.line_num):
            raise RcvFormatError(f"not an SII purchase register: line {self._csv.line_num} {problem}")
        return header

    @staticmethod
    def _map(headers: list[str]) -> list[tuple[str, str]]:
        columns: list[tuple[str, str]] = []
        taken: set[str] = set()
        for header in headers:
            name, kind = COLUMNS.get(normalise_header(header), ("", "extra"))
            if name in taken:  # a repeated column: the first one is the field
                name, kind = "", "extra"
            taken.add(name)
            columns.append((name, kind))
        missing = [name for name in REQUIRED if name not in taken]
        if missing:
            wanted = {"doc_type": "Tipo Doc", "issuer_rut": "RUT Proveedor", "folio": "Folio"}
            names = ", ".join(wanted[name] for name in missing)
            raise RcvFormatError(f"not an SII purchase register: no column {names} in the header")
        return columns

    def __iter__(self) -> Iterator[RcvRow | BadRow]:
        item, self._first = self._first, None
        while item is not None:
            line, cells = item
            if isinstance(cells, BadRow):
                yield cells
            else:
                yield from self._row(cells, line)
            item = self._next()

    def _next(self) -> tuple[int, list[str] | BadRow] | None:
        try:
            cells = next(self._csv)
        except StopIteration:
            return None
        except csv.Error as error:  # a field past the csv module's limit, a quote left open
            return self._csv.line_num, BadRow(self._csv.line_num, f"not readable as CSV: {error}")
        return self._csv.line_num, cells

    def _row(self, cells: list[str], line: int) -> Iterator[RcvRow | BadRow]:
        if problem := self._decoder.problem_at(line):
            yield BadRow(line, problem)
        elif len(cells) > MAX_COLUMNS:
            yield BadRow(line, f"{len(cells)} columns; the register has {len(self.headers)}")
        elif any(cell.strip() for cell in cells):  # a blank line is no row
            yield self._parse(cells, line)

    def _parse(self, cells: list[str], line: int) -> RcvRow | BadRow:
        values: dict[str, Any] = dict(self._blank)
        extra: dict[str, str] = {}
        reasons: list[str] = []
        columns = self._columns
        for index, cell in enumerate(cells):
            text = cell.strip()
            if not text or text.lower() == "null":
                continue
            name, kind = columns[index] if index < len(columns) else ("", "extra")
            if kind == "extra":
                header = self.headers[index] if index < len(columns) else ""
                extra[header or f"column {index + 1}"] = text
            elif kind != "skip":
                try:
                    values[name] = _PARSERS[kind](text)
                except ValueError as error:
                    reasons.append(f"{self.headers[index]}: {error}")
        for name in REQUIRED:
            if values[name] is None and not any(r.startswith(_header_of(name)) for r in reasons):
                reasons.append(f"{_header_of(name)}: missing")
        if reasons:
            return BadRow(line, "; ".join(reasons))
        return RcvRow(line=line, values=values, extra=extra)


def _header_of(name: str) -> str:
    return {"doc_type": "Tipo Doc", "issuer_rut": "RUT Proveedor", "folio": "Folio"}[name]


def _value(text: str) -> str:
    """The cell's text, or "" for a blank cell or the SII's "null"."""
    return "" if text.lower() == "null" else text


def _text(text: str) -> str:
    return " ".join(_value(text).split())


@lru_cache(maxsize=4096)  # a register names the same few suppliers over and over
def _rut(text: str) -> str | None:
    if not _value(text):
        return None
    rut = parse_rut(text)
    if not rut.valid:
        raise ValueError(rut.reason)
    return rut.normalized


def _integer(text: str, *, low: int, high: int) -> int | None:
    text = _value(text)
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) and not _INTEGER.match(text):
        raise ValueError(f"not a whole number: {text[:40]!r}")
    number = int(text)
    if not low <= number <= high:
        raise ValueError(f"out of range: {text[:40]}")
    return number


def _decimal(text: str) -> Decimal | None:
    text = _value(text).replace(",", ".")
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a number: {text[:40]!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a number: {text[:40]!r}")
    return number


def _date(text: str) -> date | None:
    text = _value(text)
    if not text:
        return None
    match = _DATE.match(text)
    try:
        if not match:
            raise ValueError
        day, month, year = (int(part) for part in match.groups())
        if year not in YEARS:
            raise ValueError
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"not a dd/mm/yyyy date: {text[:40]!r}") from None


def _instant(text: str) -> datetime | None:
    """ "dd/mm/yyyy HH:MM:SS" on Santiago's clock, as an aware UTC datetime."""
    text = _value(text)
    if not text:
        return None
    match = _INSTANT.match(text)
    try:
        if not match:
            raise ValueError
        day, month, year, hour, minute, second = (int(part or 0) for part in match.groups())
        if year not in YEARS:
            raise ValueError
        local = datetime(year, month, day, hour, minute, second, tzinfo=CHILE)
    except ValueError:
        raise ValueError(f"not a dd/mm/yyyy HH:MM:SS date and time: {text[:40]!r}") from None
    return local.astimezone(UTC)


_PARSERS: dict[str, Any] = {
    "text": _text,
    "rut": _rut,
    "code": lambda text: _integer(text, low=0, high=_SMALLINT),
    "folio": lambda text: _integer(text, low=1, high=_BIGINT),
    "amount": lambda text: _integer(text, low=-_BIGINT, high=_BIGINT),
    "decimal": _decimal,
    "date": _date,
    "instant": _instant,
}


class _LineDecoder:
    """Byte lines to text: UTF-8 (a BOM is dropped) until a line is not, then windows-1252 from there on.

    Once a line with non-ASCII UTF-8 is seen the file is UTF-8, and a later line that is not is a
    problem of that line (problem_at) rather than a change of encoding. A line too long or holding a
    NUL byte (a binary or UTF-16 file; PostgreSQL stores no NUL in text) is a problem, read as blank.
    """

    def __init__(self) -> None:
        self.encoding = ""
        self._line = 0
        self._problems: deque[tuple[int, str]] = deque()

    def decode(self, lines: Iterable[bytes]) -> Iterator[str]:
        for raw in lines:
            self._line += 1
            if self._line == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
                self.encoding = "utf-8"
            if len(raw) > MAX_LINE_BYTES:
                self._problems.append((self._line, f"is longer than {MAX_LINE_BYTES // 1024} KiB; not read"))
                yield ""
            elif b"\x00" in raw:
                self._problems.append((self._line, "holds a NUL byte (a binary or UTF-16 file?); not read"))
                yield ""
            else:
                yield self._text(raw)

    def _text(self, raw: bytes) -> str:
        if self.encoding != "windows-1252":
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                if self.encoding == "utf-8":
                    self._problems.append((self._line, "not UTF-8 like the lines before it"))
                    return raw.decode("utf-8", errors="replace")
                self.encoding = "windows-1252"
            else:
                if not self.encoding and not raw.isascii():
                    self.encoding = "utf-8"
                return text
        return _windows_1252(raw)

    def problem_at(self, line: int) -> str:
        """The problem of the row that ended at `line` (of its first line, when it spans several)."""
        found = ""
        while self._problems and self._problems[0][0] <= line:
            _line, problem = self._problems.popleft()
            found = found or problem
        return found


def _windows_1252(raw: bytes) -> str:
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined: ISO-8859-1's control characters
        return raw.decode("latin-1")
