"""RcvEntry rows read, inserted and updated many at a time, for the import of a long register.

The ORM's bulk_create and bulk_update build a statement per few dozen rows (SQLite's parameter
limit) and bulk_update a CASE per field and row: a 100,000-row register took minutes. Here one
statement is prepared and executed for many rows (executemany); values are prepared for the
database by their fields, as the ORM would.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Field

from ..models import RcvEntry

#: Fields whose Python values the database driver does not take as they are (dates, decimals, JSON).
_PREPARED = {"DateField", "DateTimeField", "DecimalField", "JSONField"}
_FIELDS: dict[str, Field] = {field.attname: field for field in RcvEntry._meta.concrete_fields}
#: What a new entry holds in the columns its file does not have.
_BLANK: dict[str, Any] = {
    name: field.get_default() if field.has_default() else (None if field.null else "")
    for name, field in _FIELDS.items()
    if not field.primary_key
}
#: Columns compared with a file's values: all but the entry's identity and bookkeeping.
COMPARED = [name for name in _BLANK if name not in {"mailbox_id", "receiver_rut", "last_import_id", "updated_at"}]


_COLUMNS: dict[str, str] = {name: field.column for name, field in _FIELDS.items() if field.column}
_TO_PREPARE = {name for name, field in _FIELDS.items() if field.get_internal_type() in _PREPARED}


def _prepared(name: str, value: Any) -> Any:
    if value is None or name not in _TO_PREPARE:
        return value
    if isinstance(value, datetime):  # aware UTC from the reader: what the field would hand the database
        return connection.ops.adapt_datetimefield_value(value)
    return _FIELDS[name].get_db_prep_save(value, connection)


def existing(
    *, mailbox_id: int | None, receiver_rut: str, folios: Iterable[int]
) -> dict[tuple[str, int, int], dict[str, Any]]:
    """The entries of this mailbox and receiver with one of `folios`, by (issuer, type, folio), as dicts."""
    entries = RcvEntry.objects.filter(receiver_rut=receiver_rut, folio__in=list(folios))
    entries = entries.filter(mailbox__isnull=True) if mailbox_id is None else entries.filter(mailbox_id=mailbox_id)
    return {
        (row["issuer_rut"], row["doc_type"], row["folio"]): row
        for row in entries.values("id", "last_import_id", *COMPARED)
    }


def insert(rows: list[dict[str, Any]]) -> None:
    """New entries; each dict holds column names (attnames) and values, the others are blank."""
    if not rows:
        return
    names = list(_BLANK)
    table = connection.ops.quote_name(RcvEntry._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(_COLUMNS[name]) for name in names)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(names))})"
    params = [[_prepared(name, row.get(name, _BLANK[name])) for name in names] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def update(changes: list[tuple[int, dict[str, Any]]]) -> None:
    """Set on each entry (its id) the columns of its dict; entries that change the same columns share a statement."""
    groups: dict[tuple[str, ...], list[list[Any]]] = {}
    for pk, values in changes:
        names = tuple(sorted(values))
        groups.setdefault(names, []).append([*(_prepared(name, values[name]) for name in names), pk])
    table = connection.ops.quote_name(RcvEntry._meta.db_table)
    with connection.cursor() as cursor:
        for names, params in groups.items():
            assignments = ", ".join(f"{connection.ops.quote_name(_COLUMNS[name])} = %s" for name in names)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE id = %s", params)
