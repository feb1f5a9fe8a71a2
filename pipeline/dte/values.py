"""Numbers and codes read out of a DTE, each checked against what its field may hold.

A value that is not (NaN, Infinity, 1E+30, a negative folio, a "²" where digits go) becomes a
problem recorded for people and a blank, never an exception further on: not in the printable,
not in the database (whose columns hold at most 18 digits).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

#: SII amounts are at most 18 digits (N18), which a BigIntegerField holds.
MAX_AMOUNT = 10**18 - 1
#: SII folios are at most 10 digits.
MAX_FOLIO = 10**10 - 1
#: SII document type codes are at most 3 digits.
MAX_DOC_TYPE = 999
#: The largest PositiveIntegerField / PositiveSmallIntegerField value on every database we support.
MAX_INT = 2**31 - 1
MAX_SMALL_INT = 32767

_ASCII_DIGITS = frozenset("0123456789")
_QUOTED = 40  # characters of a bad value quoted in a problem


def finite(text: str) -> Decimal | None:
    """The number `text` spells, or None when it spells none, or NaN or an infinity."""
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def whole(text: str, *, low: int, high: int) -> int | None:
    """`text` rounded to a whole number when it lies between low and high; else None."""
    value = finite(text) if text else None
    if value is None or not low <= value <= high:
        return None
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def rounded(value: Decimal, places: int = 0) -> Decimal:
    """`value` rounded half up (as the SII rounds) to `places` decimals."""
    return value.quantize(_unit(places), rounding=ROUND_HALF_UP)


def _unit(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def ascii_digits(text: str) -> bool:
    """True for "0042", False for "", "4²" or "٤٢" (str.isdigit says yes to those two)."""
    return bool(text) and all(char in _ASCII_DIGITS for char in text)


class Values:
    """Reads the values of one part of a file, noting each one that its field cannot hold."""

    def __init__(self, where: str = "") -> None:
        self.where = where
        self.problems: list[str] = []

    def note(self, name: str, text: str, why: str) -> None:
        self.problems.append(f"{self.where}{name} {text[:_QUOTED]!r} {why}")

    def whole(self, text: str, name: str, *, low: int = 0, high: int = MAX_INT) -> int | None:
        value = whole(text, low=low, high=high)
        if value is None and text:
            self.note(name, text, f"is not a whole number from {low} to {high}; left blank")
        return value

    def amount(self, text: str, name: str) -> int | None:
        value = whole(text, low=-MAX_AMOUNT, high=MAX_AMOUNT)
        if value is None and text:
            self.note(name, text, "is not an amount of at most 18 digits; left blank")
        return value

    def decimal(self, text: str, name: str, places: int = 4) -> Decimal | None:
        """A number of at most 18 whole digits and `places` decimals (more are rounded half up, and noted)."""
        value = finite(text) if text else None
        if value is None or abs(value) > MAX_AMOUNT:
            if text:
                self.note(name, text, "is not a number of at most 18 digits; left blank")
            return None
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent > 0:  # 1E+3: written out, 1000
            return value.quantize(Decimal(1))
        if isinstance(exponent, int) and -exponent > places and value != value.quantize(_unit(places)):
            self.note(name, text, f"has more than {places} decimals; rounded")
            return value.quantize(_unit(places), rounding=ROUND_HALF_UP)
        return value

    def number_text(self, text: str, name: str) -> str:
        """`text` as written when it is a finite number; blank (and noted) when it is not."""
        if text and finite(text) is None:
            self.note(name, text, "is not a number; left blank")
            return ""
        return text

    def code_text(self, text: str, name: str) -> str:
        """A folio or code kept as text; digits other than 0-9 in it are noted (it links to nothing)."""
        if any(char.isdigit() and char not in _ASCII_DIGITS for char in text):
            self.note(name, text, "holds digits other than 0-9; kept as text")
        return text

    def unheld(self, path: str) -> None:
        """An element the model has no place for: said, so that nothing is dropped in silence."""
        self.problems.append(f"{self.where}{path} is not held; not read")

    def within(self, where: str) -> Values:
        """A reader for a part of this one (a line of a DTE) whose problems are this one's."""
        inner = Values(f"{self.where}{where}")
        inner.problems = self.problems
        return inner
