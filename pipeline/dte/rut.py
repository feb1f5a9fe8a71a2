"""Chilean RUT: normalise, check the mod-11 digit, format with dots. Plain Python."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Body of 1-9 digits, an optional hyphen, a check digit 0-9 or K (after dots and spaces are removed).
_RUT = re.compile(r"^0*(\d{1,9})-?([0-9K])$")


@dataclass(frozen=True)
class Rut:
    """What a RUT field held: `normalized` is "12345678-5" when it looks like a RUT at all."""

    raw: str
    normalized: str
    valid: bool
    reason: str = ""


def check_digit(body: int | str) -> str:
    """The mod-11 check digit of a RUT body: check_digit(76086428) == "5"."""
    total, weight = 0, 2
    for digit in reversed(str(int(body))):
        total += int(digit) * weight
        weight = 2 if weight == 7 else weight + 1
    return {11: "0", 10: "K"}.get(11 - total % 11, str(11 - total % 11))


def parse_rut(raw: str | None) -> Rut:
    """Validate a RUT as written anywhere ("76.086.428-5", "76086428-5", "760864285").

    Never raises: an invalid RUT is returned with valid=False and a reason a person can read.
    """
    text = (raw or "").strip()
    if not text:
        return Rut(raw=text, normalized="", valid=False, reason="no RUT given")
    compact = re.sub(r"[.\s]", "", text).upper()
    match = _RUT.match(compact)
    if not match:
        return Rut(raw=text, normalized=compact[:20], valid=False, reason=f"not a RUT: {text[:40]!r}")
    body, digit = match.groups()
    normalized = f"{int(body)}-{digit}"
    expected = check_digit(body)
    if digit != expected:
        return Rut(
            raw=text,
            normalized=normalized,
            valid=False,
            reason=f"wrong check digit: {normalized} should end in -{expected}",
        )
    return Rut(raw=text, normalized=normalized, valid=True)


def format_rut(normalized: str) -> str:
    """With thousands dots, as printed on documents: "76086428-5" -> "76.086.428-5"."""
    body, sep, digit = (normalized or "").partition("-")
    if not sep or not body.isdigit():
        return normalized or ""
    return f"{int(body):,}".replace(",", ".") + "-" + digit
