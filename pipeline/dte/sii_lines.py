"""A DTE's detail lines (Detalle) and the money-bearing parts of its IdDoc: payment terms, transfer kind."""

from __future__ import annotations

from datetime import date
from typing import TypedDict

from lxml import etree

from .model import ParsedLine, ParsedPayment
from .sii_xml import carries, child, children, first_children, note_unheld, read_date, text
from .values import MAX_INT, Values

_LINE = [
    "NroLinDet",
    "CdgItem",
    "NmbItem",
    "DscItem",
    "QtyItem",
    "UnmdItem",
    "PrcItem",
    "DescuentoPct",
    "DescuentoMonto",
    "RecargoPct",
    "RecargoMonto",
    "IndExe",
    "CodImpAdic",
    "MontoItem",
]
_PAYMENT = ("FchPago", "MntPago", "GlosaPagos")
#: What IdDoc says of money that the model has no place for.
_ID_DOC_UNHELD = ("MntCancel", "SaldoInsol")
_RECEIPTS = frozenset({39, 41})  # boletas: their lines include VAT unless IndMntNeto=2


def read_line(detail: etree._Element, values: Values) -> ParsedLine:
    note_unheld(detail, _LINE, "Detalle", values)
    fields = first_children(detail)  # one pass over the line, not one per field: a DTE may hold 80,000 lines

    def field(name: str) -> str:
        found = fields.get(name)
        return (found.text or "").strip() if found is not None else ""

    return ParsedLine(
        name=field("NmbItem") or field("DscItem"),
        quantity=values.number_text(field("QtyItem"), "QtyItem"),
        unit_price=values.number_text(field("PrcItem"), "PrcItem"),
        amount=values.decimal(field("MontoItem"), "MontoItem"),
        number=values.whole(field("NroLinDet"), "NroLinDet", low=1, high=MAX_INT),
        code=text(fields.get("CdgItem"), "VlrCodigo"),
        description=field("DscItem"),
        unit=field("UnmdItem"),
        discount_percent=values.decimal(field("DescuentoPct"), "DescuentoPct", places=2),
        discount_amount=values.decimal(field("DescuentoMonto"), "DescuentoMonto"),
        surcharge_percent=values.decimal(field("RecargoPct"), "RecargoPct", places=2),
        surcharge_amount=values.decimal(field("RecargoMonto"), "RecargoMonto"),
        exemption_code=values.whole(field("IndExe"), "IndExe", low=1, high=6),
        additional_tax_code=values.whole(field("CodImpAdic"), "CodImpAdic", low=1, high=999),
    )


class Terms(TypedDict):
    """The fields of a ParsedDocument that IdDoc gives, beside its type, folio and date."""

    payment_form: int | None
    due_date: date | None
    payments: tuple[ParsedPayment, ...]
    transfer_kind: int | None
    amounts_include_vat: bool


def read_terms(id_doc: etree._Element | None, doc_type: int, values: Values) -> Terms:
    for name in _ID_DOC_UNHELD:
        if carries(child(id_doc, name)):
            values.unheld(f"IdDoc/{name}")
    payments = tuple(
        _payment(row, values.within(f"MntPagos {index}: "))
        for index, row in enumerate(children(id_doc, "MntPagos"), start=1)
    )
    gross = text(id_doc, "MntBruto") == "1"
    if doc_type in _RECEIPTS:
        gross = text(id_doc, "IndMntNeto") != "2"
    return Terms(
        payment_form=values.whole(text(id_doc, "FmaPago"), "FmaPago", low=1, high=3),
        due_date=read_date(text(id_doc, "FchVenc"), "FchVenc", values),
        payments=payments,
        transfer_kind=values.whole(text(id_doc, "IndTraslado"), "IndTraslado", low=1, high=9),
        amounts_include_vat=gross,
    )


def _payment(row: etree._Element, values: Values) -> ParsedPayment:
    note_unheld(row, _PAYMENT, "MntPagos", values)
    return ParsedPayment(
        due=read_date(text(row, "FchPago"), "FchPago", values),
        amount=values.decimal(text(row, "MntPago"), "MntPago"),
        note=text(row, "GlosaPagos"),
    )
