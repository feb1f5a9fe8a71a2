"""Whether a DTE adds up, as the SII checks it: each line, the net, the exempt, the VAT, the total.

Sums are made in the document's own currency (a foreign one's Totales, not their peso equivalent)
and rounded half up as the SII rounds: to whole pesos, or to as many decimals as the stated
amount has in another currency. A check whose inputs the document does not state is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from .model import Discrepancy, ParsedDocument, ParsedLine
from .values import finite, rounded

#: Types whose lines are exempt unless they say otherwise: exempt invoices and boletas, exports.
EXEMPT_TYPES = frozenset({34, 41, 110, 111, 112})
#: Chile's VAT rate since October 2003: what a boleta's gross lines are divided by when it states none.
DEFAULT_VAT_RATE = Decimal(19)


def check(document: ParsedDocument) -> tuple[Discrepancy, ...]:
    """Every sum of `document` that does not add up; empty when all do."""
    clp = document.currency == "CLP"
    own = document.foreign if not clp and document.foreign is not None else None
    net, exempt, vat, total = (
        (own.net, own.exempt, own.vat, own.total)
        if own is not None
        else tuple(_decimal(value) for value in (document.net, document.exempt, document.vat, document.total))
    )
    found: list[Discrepancy] = []

    def compare(what: str, stated: Decimal | None, expected: Decimal | None) -> None:
        if stated is None or expected is None:
            return
        expected = rounded(expected, 0 if clp else _places(stated))
        if stated != expected:
            found.append(Discrepancy(what, stated, expected))

    for index, line in enumerate(document.lines, start=1):
        compare(f"line {line.number or index}", line.amount, _line_amount(line, clp))
    afecto = _lines_sum(document, None)
    if afecto is not None and document.amounts_include_vat:
        rate = document.vat_rate if document.vat_rate is not None else DEFAULT_VAT_RATE
        afecto = rounded(afecto / (1 + rate / 100), 0 if clp else 4)
    compare("net", net, afecto)
    compare("exempt", exempt, _lines_sum(document, 1))
    if net is not None and document.vat_rate is not None:
        compare("vat", vat, net * document.vat_rate / 100)
    if total is not None and any(value is not None for value in (net, exempt, vat)):
        compare("total", total, _expected_total(document, net, exempt, vat, clp))
    if document.amount_due is not None and document.total is not None:
        parts = (document.total, document.non_billable or 0, document.previous_balance or 0)
        compare("amount due", Decimal(document.amount_due), Decimal(sum(parts)))
    return tuple(found)


def _expected_total(
    document: ParsedDocument, net: Decimal | None, exempt: Decimal | None, vat: Decimal | None, clp: bool
) -> Decimal:
    additional = sum((t.amount for t in document.taxes if not t.withheld and t.amount is not None), Decimal(0))
    withheld = sum((t.amount for t in document.taxes if t.withheld and t.amount is not None), Decimal(0))
    expected = (net or 0) + (exempt or 0) + (vat or 0) + additional - withheld
    if clp:  # these are pesos: a foreign document's Totales has none of them
        expected += (
            (document.vat_not_withheld or 0) - (document.special_credit or 0) + (document.deposit_guarantee or 0)
        )
    return Decimal(expected)


def _line_amount(line: ParsedLine, clp: bool) -> Decimal | None:
    """QtyItem x PrcItem - the line's discount + its surcharge, when both quantity and price are given."""
    quantity, price = (
        finite(line.quantity) if line.quantity else None,
        finite(line.unit_price) if line.unit_price else None,
    )
    if quantity is None or price is None:
        return None
    gross = quantity * price
    discount = _adjustment(gross, line.discount_amount, line.discount_percent, clp)
    surcharge = _adjustment(gross, line.surcharge_amount, line.surcharge_percent, clp)
    return gross - discount + surcharge


def _adjustment(gross: Decimal, amount: Decimal | None, percent: Decimal | None, clp: bool) -> Decimal:
    if amount is not None:
        return amount
    if percent is not None:
        return rounded(gross * percent / 100, 0 if clp else 4)
    return Decimal(0)


def _lines_sum(document: ParsedDocument, exemption: int | None) -> Decimal | None:
    """The lines of one kind (afecto: None, exempt: 1) with the global discounts on them; None when a line
    has no amount or the document has no lines."""
    default = 1 if document.doc_type in EXEMPT_TYPES else None
    lines = [line for line in document.lines if (line.exemption_code or default) == exemption]
    if not document.lines or any(line.amount is None for line in lines):
        return None
    adjustments: Iterable[Decimal | None] = (
        (d.amount if d.surcharge else -d.amount) if d.amount is not None else None
        for d in document.discounts
        if (d.exemption_code or default) == exemption
    )
    adjusted = list(adjustments)
    if any(value is None for value in adjusted):
        return None
    return sum((line.amount for line in lines if line.amount is not None), Decimal(0)) + sum(
        (value for value in adjusted if value is not None), Decimal(0)
    )


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _decimal(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value)
