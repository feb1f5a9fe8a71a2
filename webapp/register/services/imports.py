"""Import the SII purchase register CSV (pipeline/rcv.py reads it) into RcvEntry rows.

Streamed in batches of BATCH rows, each batch one transaction with a few queries, so memory stays
flat however long the file. Idempotent: an entry whose values the file repeats is not written
again (rows_unchanged). A later list moves an entry (pendiente to registro or reclamado); a
pendiente file read after the entry left pendiente is older news and changes nothing. Refused rows
are kept in RcvImport.problems with their line and reason; the other rows are imported.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import IO, Any

from django.db import transaction
from django.utils import timezone

from pipeline.content import safe_filename
from pipeline.dte.rut import parse_rut
from pipeline.rcv import BadRow, RcvFormatError, RcvReader, RcvRow, parse_file_name
from webapp.documents.services.claims import sii_receptions_record
from webapp.documents.services.columns import fit
from webapp.inbox.models import Mailbox

from ..models import RcvEntry, RcvImport, Register
from . import entry_writes

#: Rows per transaction and per lookup of the entries they already have.
BATCH = 2000
#: Refused rows kept with their line and reason (all are counted): a file of a million bad lines must not
#: keep a list of a million, rewritten whole at every batch.
MAX_PROBLEMS = 1000
#: Bytes read at a time: a file is hashed and read in chunks, never line by line (a line may be 100 MB).
_CHUNK = 64 * 1024
_PERIOD = re.compile(r"^(\d{4})-?(\d{2})$")


class RcvImportRefused(ValueError):
    """The file could not be imported at all; the message says why and what to give."""


def rcv_import(
    file: IO[bytes] | Iterable[bytes],
    *,
    filename: str,
    receiver_rut: str | None = None,
    period: str | None = None,
    mailbox: Mailbox | None = None,
    user: Any = None,
) -> RcvImport:
    """Import one RCV CSV; receiver and period from the arguments, else from the SII's file name."""
    named = parse_file_name(filename)
    receiver = _receiver(receiver_rut, named.receiver_rut)
    month = _period(period, named.period)
    digest = hashlib.sha256()
    try:
        reader = RcvReader(_hashed(file, digest))
    except RcvFormatError as error:
        raise RcvImportRefused(str(error)) from None
    record = RcvImport.objects.create(
        mailbox=mailbox,
        receiver_rut=receiver,
        period=month,
        register=named.register or reader.register,
        filename=safe_filename(filename, fallback="rcv.csv"),
        sha256="",
        imported_by=user if getattr(user, "is_authenticated", False) else None,
    )
    importer = _Importer(record)
    rows = iter(reader)
    while batch := list(islice(rows, BATCH)):
        importer.batch(batch)
    record.sha256 = digest.hexdigest()
    record.save()
    return record


def _receiver(given: str | None, from_name: str) -> str:
    if given:
        rut = parse_rut(given)
        if not rut.valid:
            raise RcvImportRefused(f"the receiver's RUT {given!r} is not valid: {rut.reason}")
        return rut.normalized
    if from_name:
        return from_name
    raise RcvImportRefused(
        "the receiver is not known: the file name is not the SII's RCV_COMPRA_<ESTADO>_<RUT>_<YYYYMM>.csv; "
        "give the receiver's RUT (--receiver)"
    )


def _period(given: str | None, from_name: str) -> str:
    if given:
        match = _PERIOD.match(given.strip())
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise RcvImportRefused(f"the period {given!r} is not a month written YYYY-MM")
        return f"{match.group(1)}-{match.group(2)}"
    if from_name:
        return from_name
    raise RcvImportRefused(
        "the period is not known: the file name is not the SII's RCV_COMPRA_<ESTADO>_<RUT>_<YYYYMM>.csv; "
        "give the period (--period YYYY-MM)"
    )


def _hashed(file: IO[bytes] | Iterable[bytes], digest: Any) -> Iterator[bytes]:
    chunks: Iterable[bytes] = iter(lambda: file.read(_CHUNK), b"") if hasattr(file, "read") else file
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


class _Importer:
    """Writes the rows of one import, batch after batch, and counts what it did on its record."""

    def __init__(self, record: RcvImport) -> None:
        self.record = record
        self.clipped = {
            name: field
            for name, field in ((f.name, f) for f in RcvEntry._meta.concrete_fields)
            if name in {"issuer_name", "purchase_kind", "other_tax_rate"}
        }

    def batch(self, rows: list[RcvRow | BadRow]) -> None:
        record = self.record
        wanted: dict[tuple[str, int, int], RcvRow] = {}
        for row in rows:
            record.rows_read += 1
            if isinstance(row, BadRow):
                self._refuse(row.line, row.reason)
            elif row.key in wanted:
                self._refuse(row.line, f"the same document as line {wanted[row.key].line}")
            else:
                wanted[row.key] = row
        now = timezone.now()
        with transaction.atomic():
            found = entry_writes.existing(
                mailbox_id=record.mailbox_id, receiver_rut=record.receiver_rut, folios={key[2] for key in wanted}
            )
            new: list[dict[str, Any]] = []
            changes: list[tuple[int, dict[str, Any]]] = []
            for key, row in wanted.items():
                values = self._values(row)
                entry = found.get(key)
                if entry is None:
                    new.append({**values, **self._identity(), "updated_at": now})
                elif entry["last_import_id"] == record.pk:
                    self._refuse(row.line, "the same document as an earlier line")
                elif changed := _changes(entry, values):
                    changes.append((entry["id"], {**changed, "last_import_id": record.pk, "updated_at": now}))
                else:
                    record.rows_unchanged += 1
            entry_writes.insert(new)
            entry_writes.update(changes)
            sii_receptions_record(  # the claim deadlines of the documents received run from the SII's reception
                mailbox_id=record.mailbox_id,
                receiver_rut=record.receiver_rut,
                receptions={key: at for key, row in wanted.items() if (at := row.values.get("received_at"))},
            )
            record.rows_created += len(new)
            record.rows_updated += len(changes)
            record.save()

    def _refuse(self, line: int, reason: str) -> None:
        self.record.rows_failed += 1
        if len(self.record.problems) < MAX_PROBLEMS:
            self.record.problems.append({"line": line, "reason": reason})

    def _identity(self) -> dict[str, Any]:
        record = self.record
        return {"mailbox_id": record.mailbox_id, "receiver_rut": record.receiver_rut, "last_import_id": record.pk}

    def _values(self, row: RcvRow) -> dict[str, Any]:
        values = dict(row.values)
        for name, field in self.clipped.items():
            if values.get(name) is not None:
                values[name] = fit(field, values[name])
        values.update(register=self.record.register, period=self.record.period, extra=row.extra)
        return values


def _changes(entry: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """What `values` change of `entry`; nothing when they are older news (pendiente after it left pendiente)."""
    if values["register"] == Register.PENDIENTE and entry["register"] != Register.PENDIENTE:
        return {}
    return {name: value for name, value in values.items() if entry[name] != value}
