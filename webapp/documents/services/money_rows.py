"""A Document's lines, other taxes, global discounts and instalments, as its primary XML states them.

Replaced as a whole, in bulk: a document of 1,000 lines costs a few queries. Rows that are already
what the XML says are left alone, so reprocessing keeps their ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import models

from pipeline.dte import ParsedDocument
from pipeline.dte.model import ParsedDiscount, ParsedLine, ParsedPayment, ParsedTax
from pipeline.dte.values import finite

from ..models import Document, DocumentDiscount, DocumentLine, DocumentPayment, DocumentTax
from .columns import fitted


def money_rows_replace(document: Document, parsed: ParsedDocument, *, fresh: bool = False) -> None:
    """Make the document's DocumentLine, DocumentTax, DocumentDiscount and DocumentPayment rows those of `parsed`.

    `fresh`: the document was created a moment ago and has none yet: they are only inserted.
    """
    numbers = _numbers([line.number for line in parsed.lines])
    lines = [_line(n, line) for n, line in zip(numbers, parsed.lines, strict=True)]
    _replace(document, DocumentLine, lines, fresh=fresh)
    taxes = [_tax(tax) for tax in parsed.taxes]
    _replace(document, DocumentTax, [row for row in taxes if row["code"] is not None], fresh=fresh)
    positions = _numbers([discount.line for discount in parsed.discounts])
    discounts = [_discount(n, d) for n, d in zip(positions, parsed.discounts, strict=True)]
    _replace(document, DocumentDiscount, [row for row in discounts if row["value"] is not None], fresh=fresh)
    payments = [_payment(n, p) for n, p in enumerate(parsed.payments, start=1)]
    _replace(document, DocumentPayment, payments, fresh=fresh)


def _replace(document: Document, model: type[models.Model], rows: list[dict[str, Any]], *, fresh: bool) -> None:
    manager = model._default_manager
    if fresh:
        if rows:
            manager.bulk_create([model(document=document, **row) for row in rows])
        return
    names = list(rows[0]) if rows else ["pk"]
    present = manager.filter(document=document)
    stated = list(present.order_by("pk").values_list(*names))
    if stated == [tuple(row[name] for name in names) for row in rows]:
        return  # already so: the rows keep their ids
    if stated:
        present.delete()
    manager.bulk_create([model(document=document, **row) for row in rows])


def _numbers(stated: Sequence[int | None]) -> list[int]:
    """The line numbers as the XML states them when they are distinct and positive; else 1, 2, 3…

    The rows are unique per document and number: a file that repeats or omits one is numbered in order.
    """
    if all(n is not None and 0 < n < 2**31 for n in stated) and len(set(stated)) == len(stated):
        return [n for n in stated if n is not None]
    return list(range(1, len(stated) + 1))


def _line(number: int, line: ParsedLine) -> dict[str, Any]:
    return fitted(
        DocumentLine,
        {
            "number": number,
            "code": line.code,
            "name": line.name,
            "description": line.description,
            "quantity": finite(line.quantity) if line.quantity else None,
            "unit": line.unit,
            "unit_price": finite(line.unit_price) if line.unit_price else None,
            "discount_percent": line.discount_percent,
            "discount_amount": line.discount_amount,
            "surcharge_percent": line.surcharge_percent,
            "surcharge_amount": line.surcharge_amount,
            "amount": line.amount,
            "exemption_code": line.exemption_code,
            "additional_tax_code": line.additional_tax_code,
        },
    )


# A tax whose code, or a discount whose value, no column holds is left out: those columns hold no blank.
def _tax(tax: ParsedTax) -> dict[str, Any]:
    return fitted(
        DocumentTax,
        {"code": tax.code, "name": tax.name, "rate": tax.rate, "amount": tax.amount, "withheld": tax.withheld},
    )


def _discount(line: int, discount: ParsedDiscount) -> dict[str, Any]:
    return fitted(
        DocumentDiscount,
        {
            "line": line,
            "surcharge": discount.surcharge,
            "description": discount.description,
            "percent": discount.percent,
            "value": discount.value,
            "exemption_code": discount.exemption_code,
            "amount": discount.amount,
        },
    )


def _payment(number: int, payment: ParsedPayment) -> dict[str, Any]:
    return fitted(
        DocumentPayment, {"number": number, "due": payment.due, "amount": payment.amount, "note": payment.note}
    )
