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
from django.db.models import Q
from django.utils import timezone

from pipeline.dte.rut import parse_rut
from pipeline.rcv import BadRow, RcvFormatError, RcvReader, RcvRow, parse_file_name
from webapp.documents.services.columns import fit
from webapp.inbox.models import Mailbox

from ..models import RcvEntry, RcvImport, Register

#: Rows per transaction and per lookup of the entries they already have.
BATCH = 2000
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
        filename=filename[-255:],
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
    for line in file:
        digest.update(line)
        yield line


class _Importer:
    """Writes the rows of one import, batch after batch, and counts what it did on its record."""

    def __init__(self, record: RcvImport) -> None:
        self.record = record
        self.fields = {field.name: field for field in RcvEntry._meta.concrete_fields}

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
        if not wanted:
            return
        with transaction.atomic():
            existing = self._existing(wanted)
            new, changed = [], []
            for key, row in wanted.items():
                values = self._values(row)
                entry = existing.get(key)
                if entry is None:
                    new.append(RcvEntry(**values, **self._identity(), last_import=record))
                elif entry.last_import_id == record.pk:
                    self._refuse(row.line, "the same document as an earlier line")
                elif self._moves(entry, values):
                    changed.append(entry)
                else:
                    record.rows_unchanged += 1
            RcvEntry.objects.bulk_create(new)
            if changed:
                names = sorted({name for entry in changed for name in entry._rcv_changed})  # type: ignore[attr-defined]
                RcvEntry.objects.bulk_update(changed, [*names, "last_import", "updated_at"])
            record.rows_created += len(new)
            record.rows_updated += len(changed)
            record.save()

    def _refuse(self, line: int, reason: str) -> None:
        self.record.rows_failed += 1
        self.record.problems.append({"line": line, "reason": reason})

    def _identity(self) -> dict[str, Any]:
        return {"mailbox": self.record.mailbox, "receiver_rut": self.record.receiver_rut}

    def _existing(self, wanted: dict[tuple[str, int, int], RcvRow]) -> dict[tuple[str, int, int], RcvEntry]:
        mailbox = Q(mailbox__isnull=True) if self.record.mailbox is None else Q(mailbox=self.record.mailbox)
        folios = {folio for _, _, folio in wanted}
        entries = RcvEntry.objects.filter(mailbox, receiver_rut=self.record.receiver_rut, folio__in=folios)
        found = {(entry.issuer_rut, entry.doc_type, entry.folio): entry for entry in entries}
        return {key: entry for key, entry in found.items() if key in wanted}

    def _values(self, row: RcvRow) -> dict[str, Any]:
        values = {name: fit(self.fields[name], value) for name, value in row.values.items()}
        values.update(register=self.record.register, period=self.record.period, extra=row.extra)
        return values

    def _moves(self, entry: RcvEntry, values: dict[str, Any]) -> bool:
        """Set on `entry` what `values` change; False when they change nothing or are older news."""
        if values["register"] == Register.PENDIENTE and entry.register != Register.PENDIENTE:
            return False
        changed = [name for name, value in values.items() if getattr(entry, name) != value]
        if not changed:
            return False
        for name in changed:
            setattr(entry, name, values[name])
        entry.last_import = self.record
        entry.updated_at = timezone.now()
        entry._rcv_changed = changed  # type: ignore[attr-defined]
        return True
