"""What the printable of a DTE says, as text: the SII's names for its codes, its numbers written as in
Chile, the details under each line and the terms (currency, payment, transfer) of the document.

Plain Python, no reportlab: the drawing is printable.py's.
"""

from __future__ import annotations

from decimal import Decimal

from pipeline.dte.formatting import dmy, money
from pipeline.dte.model import ParsedDocument, ParsedLine

#: IndExe, as the SII's format names it (1 is the usual "exento").
EXEMPTION_KINDS = {
    1: "exento",
    2: "no facturable",
    3: "garantía de depósito por envases",
    4: "ítem no venta",
    5: "ítem a rebajar",
    6: "no facturable negativo",
}

#: IndTraslado of a guía de despacho (52).
TRANSFER_KINDS = {
    1: "operación constituye venta",
    2: "ventas por efectuar",
    3: "consignaciones",
    4: "entrega gratuita",
    5: "traslado interno",
    6: "otros traslados no venta",
    7: "guía de devolución",
    8: "traslado para exportación (no venta)",
    9: "venta para exportación",
}
#: The IndTraslado that move goods sold: the others are not a sale.
SALE_TRANSFERS = frozenset({1, 9})

#: FmaPago.
PAYMENT_FORMS = {1: "Contado", 2: "Crédito", 3: "Sin costo (entrega gratuita)"}

#: Lines of a DscItem printed under its line; what is longer is cut.
DESCRIPTION_LINES = 3


def number(value: Decimal) -> str:
    """A number as written in Chile, with the decimals it has: 1.234,5 - 19 - 0,25."""
    normalized = value.normalize()
    exponent = normalized.as_tuple().exponent
    places = max(0, -exponent) if isinstance(exponent, int) else 0
    text = f"{abs(normalized):,.{places}f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return f"-{text}" if value < 0 else text


def percent(value: Decimal | None) -> str:
    """ "19%" from 19.00; "" when there is none."""
    return f"{number(value)}%" if value is not None else ""


def minus(amount: Decimal | int | None, currency: str = "CLP") -> str:
    """An amount that subtracts: -$1.234 (a blank stays "-")."""
    return "-" if amount is None else "-" + money(abs(Decimal(amount)), currency)


def unit_price(text: str, currency: str) -> str:
    """PrcItem in its currency; pesos keep the decimals they have ($12,5), since a price may."""
    try:
        value = Decimal(text)
    except ArithmeticError:
        return text
    if not value.is_finite():
        return text
    if currency == "CLP" and value != value.to_integral_value():
        return f"{'-' if value < 0 else ''}${number(abs(value))}"
    return money(value, currency)


def line_suffix(line: ParsedLine) -> str:
    """What follows the name of an exempt, not billable, ... line: " (no facturable)"."""
    kind = EXEMPTION_KINDS.get(line.exemption_code) if line.exemption_code is not None else None
    return f" ({kind})" if kind else ""


def line_adjustments(line: ParsedLine, currency: str, tax_names: dict[int, str]) -> str:
    """The line's discount, surcharge and additional tax, on one line: "Descuento 10%: -$1.000 · ..."."""
    parts = []
    if line.discount_percent is not None or line.discount_amount is not None:
        parts.append(_adjustment("Descuento", line.discount_percent, line.discount_amount, currency, subtracts=True))
    if line.surcharge_percent is not None or line.surcharge_amount is not None:
        parts.append(_adjustment("Recargo", line.surcharge_percent, line.surcharge_amount, currency, subtracts=False))
    if line.additional_tax_code is not None:
        name = tax_names.get(line.additional_tax_code, f"código {line.additional_tax_code}")
        parts.append(f"Impuesto adicional: {name}")
    return " · ".join(parts)


def _adjustment(label: str, rate: Decimal | None, amount: Decimal | None, currency: str, *, subtracts: bool) -> str:
    head = f"{label} {percent(rate)}" if rate is not None else label
    if amount is None:
        return head
    return f"{head}: {minus(amount, currency) if subtracts else money(amount, currency)}"


def terms(doc: ParsedDocument) -> list[str]:
    """Currency, payment and transfer of the document, one line each (instalments apart)."""
    lines = []
    foreign = doc.foreign
    if doc.currency != "CLP" or foreign is not None:
        currency = foreign.currency if foreign is not None else doc.currency
        name = f"{foreign.name} ({currency})" if foreign is not None and foreign.name else currency
        text = f"Moneda: {name}" if doc.currency != "CLP" else f"Otra moneda: {name}"
        if foreign is not None and foreign.exchange_rate is not None:
            text += f" · Tipo de cambio: {exchange_rate(foreign.exchange_rate, currency)}"
        lines.append(text)
    payment = []
    if doc.payment_form is not None:
        payment.append(f"Forma de pago: {PAYMENT_FORMS.get(doc.payment_form, f'código {doc.payment_form}')}")
    if doc.due_date is not None:
        payment.append(f"Fecha de vencimiento: {dmy(doc.due_date)}")
    if payment:
        lines.append(" · ".join(payment))
    if doc.transfer_kind is not None:
        kind = TRANSFER_KINDS.get(doc.transfer_kind, f"código {doc.transfer_kind}")
        text = f"Traslado: {kind}"
        if doc.transfer_kind not in SALE_TRANSFERS:
            text += " (no constituye venta)"
        lines.append(text)
    return lines


def instalments(doc: ParsedDocument) -> list[str]:
    """One line per MntPagos: "15-06-2024  $500.000  primera cuota"."""
    return ["   ".join(filter(None, (dmy(p.due), money(p.amount, doc.currency), p.note))) for p in doc.payments]


def exchange_rate(rate: Decimal, currency: str) -> str:
    """TpoCambio, pesos per unit: "1 USD = $950,25"."""
    return f"1 {currency} = ${number(rate)}"
