"""Values fitted to the columns that hold them: clipped or left blank, never an exception on save.

The parser keeps its values within the SII's limits; this is the last guard before the database
(PostgreSQL refuses a number wider than its column, a text longer than its column, a NUL in a text).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations

#: The range of each integer column on every database we support (PostgreSQL's are the narrowest).
_INTEGER_RANGES = BaseDatabaseOperations.integer_field_ranges


def fitted(model: type[models.Model], values: dict[str, Any]) -> dict[str, Any]:
    """`values` (column name: value) with each value fitted to its column of `model`."""
    meta = model._meta
    return {name: fit(meta.get_field(name), value) for name, value in values.items()}


def fit(field: Any, value: Any) -> Any:
    """`value` as `field` can hold it: text clipped to its length, a number too wide blank (None, or
    the column's default when it holds no NULL), decimals rounded half up to its places."""
    if value is None:
        if field.null:
            return None
        if isinstance(field, (models.CharField, models.TextField)):
            return ""
        return field.get_default() if field.has_default() else None
    if isinstance(field, models.DecimalField):
        held: Any = _decimal(value, max_digits=field.max_digits, places=field.decimal_places)
    elif isinstance(field, models.BooleanField):
        held = bool(value)
    elif isinstance(field, models.IntegerField):
        held = _integer(value, field.get_internal_type())
    elif isinstance(field, (models.CharField, models.TextField)):
        text = str(value).replace("\x00", "")
        held = text[: field.max_length] if field.max_length else text
    else:
        held = value
    if held is None and not field.null and field.has_default():
        return field.get_default()
    return held


def _decimal(value: Any, *, max_digits: int, places: int) -> Decimal | None:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        if not number.is_finite():
            return None
        number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):  # not a number, or wider than any column
        return None
    return number if abs(number) < Decimal(10) ** (max_digits - places) else None


def _integer(value: Any, internal_type: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return None
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            return None
        value = int(value)
    low, high = _INTEGER_RANGES.get(internal_type, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        return None
    return int(value)
