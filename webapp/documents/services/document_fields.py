"""A Document's own fields as a copy of it states them: amounts, parties, terms, and whether it adds up."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pipeline.dte import ParsedDocument

from ..models import Document
from .columns import fitted


def document_fields(parsed: ParsedDocument) -> dict[str, Any]:
    foreign = parsed.foreign
    return fitted(
        Document,
        {
            "type_name": parsed.type_name,
            "issue_date": parsed.issue_date,
            "issuer_rut_valid": parsed.issuer_rut_valid,
            "issuer_rut_error": parsed.issuer_rut_error,
            "issuer_name": parsed.issuer_name,
            "receiver_rut": parsed.receiver_rut,
            "receiver_rut_valid": parsed.receiver_rut_valid,
            "receiver_name": parsed.receiver_name,
            "net": parsed.net,
            "exempt": parsed.exempt,
            "vat": parsed.vat,
            "total": parsed.total,
            "vat_rate": parsed.vat_rate,
            "vat_not_withheld": parsed.vat_not_withheld,
            "other_taxes": parsed.other_taxes,
            "vat_withheld": parsed.vat_withheld,
            "special_credit": parsed.special_credit,
            "deposit_guarantee": parsed.deposit_guarantee,
            "non_billable": parsed.non_billable,
            "period_amount": parsed.period_amount,
            "previous_balance": parsed.previous_balance,
            "amount_due": parsed.amount_due,
            "currency": parsed.currency,
            "foreign_currency": foreign.currency if foreign else "",
            "foreign_currency_name": foreign.name if foreign else "",
            "exchange_rate": foreign.exchange_rate if foreign else None,
            "foreign_net": foreign.net if foreign else None,
            "foreign_exempt": foreign.exempt if foreign else None,
            "foreign_vat": foreign.vat if foreign else None,
            "foreign_total": foreign.total if foreign else None,
            "payment_form": parsed.payment_form,
            "due_date": parsed.due_date,
            "transfer_kind": parsed.transfer_kind,
            **arithmetic_fields(parsed),
            "line_count": parsed.line_count,
            "resolution_number": parsed.resolution_number,
            "resolution_date": parsed.resolution_date,
        },
    )


def arithmetic_fields(parsed: ParsedDocument) -> dict[str, Any]:
    """Whether the document adds up, each sum that does not in words, and by how much its total is off, in pesos.

    adds_up is None when there was nothing to check (no total in the document's own currency).
    """
    foreign = parsed.foreign if parsed.currency != "CLP" else None
    own_total = foreign.total if foreign else parsed.total
    if not parsed.discrepancies:
        return {"adds_up": None if own_total is None else True, "arithmetic_problems": "", "total_difference": None}
    suffix = f" ({parsed.currency})" if parsed.currency != "CLP" else ""
    problems = [
        f"{d.what}{suffix}: stated {_number(d.stated)}, its parts add to {_number(d.expected)}"
        f" (difference {_number(d.difference)})"
        for d in parsed.discrepancies
    ]
    difference = next((d.difference for d in parsed.discrepancies if d.what == "total"), None)
    if difference is not None and parsed.currency != "CLP":  # in the document's currency: to pesos
        rate = foreign.exchange_rate if foreign else None
        difference = difference * rate if rate is not None else None
    return {
        "adds_up": False,
        "arithmetic_problems": "\n".join(problems),
        "total_difference": None if difference is None else int(difference.to_integral_value(rounding=ROUND_HALF_UP)),
    }


def _number(value: Decimal) -> str:
    """As numbers are written in Chile, with the decimals it has: 2.465, -371, 28.689,40."""
    exponent = value.as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 0
    return f"{value:,.{places}f}".replace(",", "_").replace(".", ",").replace("_", ".")
