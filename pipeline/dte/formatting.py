"""How amounts and dates are printed on Chilean documents. Plain Python, no heavy imports."""

from __future__ import annotations

from datetime import date


def clp(amount: int | None) -> str:
    """Chilean pesos: $1.234.567 (a negative amount keeps its sign; None prints as "-")."""
    if amount is None:
        return "-"
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,}".replace(",", ".")


def dmy(value: date | None) -> str:
    """dd-mm-yyyy, as dates are printed on DTE."""
    return value.strftime("%d-%m-%Y") if value else "-"
