"""How amounts and dates are printed on Chilean documents. Plain Python, no heavy imports."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

#: How each currency's amounts are prefixed; others print their ISO code ("CHF 1.234,50").
_SYMBOLS = {"CLP": "$", "USD": "US$", "EUR": "€"}


def clp(amount: int | None) -> str:
    """Chilean pesos: $1.234.567 (a negative amount keeps its sign; None prints as "-")."""
    if amount is None:
        return "-"
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,}".replace(",", ".")


def money(amount: Decimal | int | None, currency: str = "CLP") -> str:
    """An amount in its currency, as written in Chile: $1.234.567, US$ 28.689,40, CHF 950,00.

    Pesos are whole; other currencies show two decimals (more when the amount has them).
    """
    if amount is None:
        return "-"
    if currency == "CLP":
        return clp(int(Decimal(amount).quantize(Decimal(1), rounding=ROUND_HALF_UP)))
    value = Decimal(amount)
    exponent = value.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    text = f"{abs(value):,.{places}f}".replace(",", "_").replace(".", ",").replace("_", ".")
    sign = "-" if value < 0 else ""
    return f"{sign}{_SYMBOLS.get(currency, currency)} {text}"


def dmy(value: date | None) -> str:
    """dd-mm-yyyy, as dates are printed on DTE."""
    return value.strftime("%d-%m-%Y") if value else "-"
