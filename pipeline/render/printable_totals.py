"""The totals block of a printable DTE as rows of text, in the order of the SII's Totales.

Global discounts and surcharges first, then neto, exento, IVA at the document's own rate, each
additional tax or retention (a retention subtracts), IVA no retenido, CredEC, GrntDep, the total, and
what is due. A foreign-currency document (110, 111, 112) states its totals in its currency and then
their peso equivalent; a peso document with an OtraMoneda block adds those amounts after its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pipeline.dte.formatting import clp, money
from pipeline.dte.model import ForeignAmounts, ParsedDiscount, ParsedDocument
from pipeline.render.printable_text import exchange_rate, minus, number, percent

_ON_LINES = {1: " sobre exentos", 2: " sobre no facturables"}  # IndExeDR


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    amount: str = ""
    bold: bool = False


def totals_rows(doc: ParsedDocument) -> list[Row]:
    """Every row of the totals block; a heading has no amount, a spacer neither label nor amount."""
    currency = doc.currency
    own = doc.foreign if doc.foreign is not None and doc.foreign.currency == currency != "CLP" else None
    rows = [_discount(discount, currency) for discount in doc.discounts]
    if own is not None:
        rows += _sums(own.net, own.exempt, own.vat, doc.vat_rate, currency)
    else:
        rows += _sums(doc.net, doc.exempt, doc.vat, doc.vat_rate, "CLP")
    rows += _taxes(doc)
    rows += _optional("IVA no retenido", doc.vat_not_withheld)
    if doc.special_credit is not None:
        rows.append(Row("Crédito especial empresas constructoras", minus(doc.special_credit)))
    rows += _optional("Garantía por depósito de envases", doc.deposit_guarantee)
    rows.append(Row("Total", money(own.total, currency) if own is not None else clp(doc.total), bold=True))
    rows += _optional("Monto no facturable", doc.non_billable)
    rows += _optional("Monto del período", doc.period_amount)
    rows += _optional("Saldo anterior", doc.previous_balance)
    if doc.amount_due is not None:
        rows.append(Row("Valor a pagar", clp(doc.amount_due), bold=True))
    if own is not None:
        rows += [Row(""), *_rate(own), Row("Equivalente en pesos", bold=True)]
        rows += _sums(doc.net, doc.exempt, doc.vat, doc.vat_rate, "CLP")
        rows += _optional("Total", doc.total)
    elif doc.foreign is not None:
        other = doc.foreign
        rows += [Row(""), Row(f"Otra moneda: {other.name or other.currency}", bold=True), *_rate(other)]
        rows += _sums(other.net, other.exempt, other.vat, doc.vat_rate, other.currency)
        if other.total is not None:
            rows.append(Row("Total", money(other.total, other.currency)))
    return rows


def _sums(
    net: Decimal | int | None,
    exempt: Decimal | int | None,
    vat: Decimal | int | None,
    rate: Decimal | None,
    currency: str,
) -> list[Row]:
    rows = []
    if net is not None:
        rows.append(Row("Monto neto", money(net, currency)))
    if exempt is not None:
        rows.append(Row("Monto exento", money(exempt, currency)))
    if vat is not None:
        rows.append(Row(f"IVA {percent(rate)}".rstrip(), money(vat, currency)))
    return rows


def _taxes(doc: ParsedDocument) -> list[Row]:
    rows = []
    for tax in doc.taxes:
        label = f"{tax.name or f'Impuesto código {tax.code}'} {percent(tax.rate)}".rstrip()
        rows.append(Row(label, minus(tax.amount, doc.currency) if tax.withheld else money(tax.amount, doc.currency)))
    if not doc.taxes:  # sums without their rows: said as they are
        rows += _optional("Impuestos adicionales", doc.other_taxes)
        if doc.vat_withheld is not None:
            rows.append(Row("IVA retenido", minus(doc.vat_withheld)))
    return rows


def _discount(discount: ParsedDiscount, currency: str) -> Row:
    label = "Recargo global" if discount.surcharge else "Descuento global"
    if discount.percent:
        label += f" {number(discount.value)}%"
    label += _ON_LINES.get(discount.exemption_code, "") if discount.exemption_code is not None else ""
    if discount.description:
        label += f" ({discount.description})"
    amount = discount.amount if discount.amount is not None or discount.percent else discount.value
    return Row(label, money(amount, currency) if discount.surcharge else minus(amount, currency))


def _rate(amounts: ForeignAmounts) -> list[Row]:
    rate = amounts.exchange_rate
    return [Row("Tipo de cambio", exchange_rate(rate, amounts.currency))] if rate is not None else []


def _optional(label: str, pesos: int | None) -> list[Row]:
    return [Row(label, clp(pesos))] if pesos is not None else []
