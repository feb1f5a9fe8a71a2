"""DTE XML of the money cases the SII's formats define: specific taxes, VAT withheld, exports in dollars,
global and line discounts, a transfer guide, and one that does not add up.

Each case is a function with keyword parameters that returns the bytes of an EnvioDTE (or of a bare
DTE with `envelope=False`); its amounts add up as the SII computes them unless the case says not.
`Item` and `dte()` build other cases: `envelope(dte(...), dte(...))` holds several.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from pipeline import samples
from pipeline.dte.taxes import tax_code
from pipeline.samples import _group, _serialize, _signature, _sub
from pipeline.samples_ted import TedKind, add_ted

ISSUE_DATE = date(2024, 6, 10)
FOREIGN_RECEIVER_RUT = "55555555-5"  # the SII's RUT for a buyer abroad
IVA = Decimal(19)
RECEIVER_NAME = "Cliente de prueba"

Amount = int | Decimal | str


@dataclass(frozen=True)
class Item:
    """A `Detalle`. `amount` is computed (qty x price - discount + surcharge, rounded) unless given."""

    name: str
    quantity: Decimal | int = 1
    price: Decimal | int = 0
    exemption_code: int | None = None
    discount_percent: Decimal | int | None = None
    discount_amount: Decimal | int | None = None
    surcharge_percent: Decimal | int | None = None
    surcharge_amount: Decimal | int | None = None
    tax_code: int | None = None
    code: str | None = None
    unit: str | None = None
    description: str | None = None
    amount: Decimal | int | None = None

    def adjustments(self, places: int) -> tuple[Decimal | None, Decimal | None]:
        gross = Decimal(self.quantity) * Decimal(self.price)
        discount = self.discount_amount
        if discount is None and self.discount_percent is not None:
            discount = round_half_up(gross * Decimal(self.discount_percent) / 100, places)
        surcharge = self.surcharge_amount
        if surcharge is None and self.surcharge_percent is not None:
            surcharge = round_half_up(gross * Decimal(self.surcharge_percent) / 100, places)
        return (None if discount is None else Decimal(discount), None if surcharge is None else Decimal(surcharge))

    def total(self, places: int = 0) -> Decimal:
        if self.amount is not None:
            return Decimal(self.amount)
        discount, surcharge = self.adjustments(places)
        gross = Decimal(self.quantity) * Decimal(self.price)
        return round_half_up(gross - (discount or 0) + (surcharge or 0), places)


@dataclass(frozen=True)
class Discount:
    """A `DscRcgGlobal`: a % or an amount off (or, as a surcharge, on) the afecto lines, or the exempt ones."""

    value: Decimal | int
    percent: bool = True
    surcharge: bool = False
    description: str = "Descuento global"
    exemption_code: int | None = None


def round_half_up(value: Decimal, places: int = 0) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def written(value: Amount, places: int = 0) -> str:
    """An amount as an issuer writes it: whole pesos, or a foreign amount with its decimals (28689.40)."""
    if isinstance(value, str):
        return value
    return str(round_half_up(Decimal(value), places)) if places else str(int(round_half_up(Decimal(value))))


def dte(
    *,
    doc_type: int = 33,
    folio: int = 1001,
    items: Sequence[Item] = (Item("Servicio", 1, 100_000),),
    discounts: Sequence[Discount] = (),
    taxes: Sequence[tuple[int, Decimal | int | None, Amount]] = (),
    currency: str | None = None,
    places: int = 0,
    other: Sequence[tuple[str, object]] | None = None,
    id_doc: Sequence[tuple[str, object]] = (),
    totals_extra: Sequence[tuple[str, object]] = (),
    total_off_by: Decimal | int = 0,
    receiver_rut: str = samples.DEFAULT_RECEIVER_RUT,
    reference: samples.Reference | None = None,
    ted: TedKind = "genuine",
) -> ET.Element:
    """One `<DTE>`: Totales computed from the items, discounts and taxes (rounded as the SII does).

    `taxes` are (TipoImp, TasaImp, MontoImp); a retention (15, 30-41...) is subtracted from the total.
    `currency` names Totales' TpoMoneda ("DOLAR USA"), `places` its decimals; `other` is OtraMoneda.
    `ted` is "genuine" (stamped by our CAF's key), "forged" (stamped for another total) or "none".
    """
    exempt_doc = doc_type in (34, 41, 110, 111, 112)
    afecto = [item for item in items if item.exemption_code is None and not exempt_doc]
    exempt = [item for item in items if item.exemption_code == 1 or (exempt_doc and item.exemption_code is None)]
    net = _with_discounts(sum((i.total(places) for i in afecto), Decimal(0)), discounts, None, places)
    exempt_sum = _with_discounts(sum((i.total(places) for i in exempt), Decimal(0)), discounts, 1, places)
    vat = round_half_up(net * IVA / 100, places) if afecto else Decimal(0)
    signed = sum((-Decimal(a) if (t := tax_code(c)) and t.withheld else Decimal(a) for c, _, a in taxes), Decimal(0))
    total = net + exempt_sum + vat + signed + Decimal(total_off_by)
    body_tag = "Exportaciones" if doc_type in (110, 111, 112) else "Documento"
    root = ET.Element("DTE", version="1.0")
    body = _sub(root, body_tag, ID=f"F{folio}T{doc_type}")
    header = _sub(body, "Encabezado")
    _group(header, "IdDoc", [("TipoDTE", doc_type), ("Folio", folio), ("FchEmis", ISSUE_DATE), *id_doc])
    _group(
        header,
        "Emisor",
        [("RUTEmisor", samples.DEFAULT_ISSUER_RUT), ("RznSoc", samples.DEFAULT_ISSUER_NAME), ("GiroEmis", "Comercio")],
    )
    _group(header, "Receptor", [("RUTRecep", receiver_rut), ("RznSocRecep", RECEIVER_NAME)])
    totals = _group(header, "Totales", [("TpoMoneda", currency)])
    fields: list[tuple[str, object]] = []
    if afecto:
        fields.append(("MntNeto", written(net, places)))
    if exempt:
        fields.append(("MntExe", written(exempt_sum, places)))
    if afecto:
        fields += [("TasaIVA", 19), ("IVA", written(vat, places))]
    for name, value in fields:
        _sub(totals, name, value)
    for code, rate, amount in taxes:
        _group(totals, "ImptoReten", [("TipoImp", code), ("TasaImp", rate), ("MontoImp", written(amount, places))])
    for name, value in [("MntTotal", written(total, places)), *totals_extra]:
        _sub(totals, name, value)
    if other is not None:
        _group(header, "OtraMoneda", other)
    for number, item in enumerate(items, start=1):
        discount, surcharge = item.adjustments(places)
        _group(
            body,
            "Detalle",
            [
                ("NroLinDet", number),
                ("IndExe", item.exemption_code),
                ("NmbItem", item.name),
                ("DscItem", item.description),
                ("QtyItem", item.quantity),
                ("UnmdItem", item.unit),
                ("PrcItem", item.price),
                ("DescuentoPct", item.discount_percent),
                ("DescuentoMonto", None if discount is None else written(discount, places)),
                ("RecargoPct", item.surcharge_percent),
                ("RecargoMonto", None if surcharge is None else written(surcharge, places)),
                ("CodImpAdic", item.tax_code),
                ("MontoItem", written(item.total(places), places)),
            ],
        )
        if item.code is not None:  # after NroLinDet
            code = ET.Element("CdgItem")
            _sub(code, "TpoCodigo", "INT1")
            _sub(code, "VlrCodigo", item.code)
            body[-1].insert(1, code)
    for number, row in enumerate(discounts, start=1):
        _group(
            body,
            "DscRcgGlobal",
            [
                ("NroLinDR", number),
                ("TpoMov", "R" if row.surcharge else "D"),
                ("GlosaDR", row.description),
                ("TpoValor", "%" if row.percent else "$"),
                ("ValorDR", row.value),
                ("IndExeDR", row.exemption_code),
            ],
        )
    if reference is not None:
        _group(
            body,
            "Referencia",
            [
                ("NroLinRef", 1),
                ("TpoDocRef", reference.doc_type),
                ("FolioRef", reference.folio),
                ("FchRef", reference.issue_date),
                ("CodRef", reference.code),
                ("RazonRef", reference.reason),
            ],
        )
    add_ted(
        body,
        issuer_rut=samples.DEFAULT_ISSUER_RUT,
        issuer_name=samples.DEFAULT_ISSUER_NAME,
        doc_type=doc_type,
        folio=folio,
        issue_date=ISSUE_DATE,
        receiver_rut=receiver_rut,
        receiver_name=RECEIVER_NAME,
        total=written(total),
        first_item=items[0].name if items else "",
        stamped_at=f"{ISSUE_DATE.isoformat()}T10:00:00",
        kind=ted,
    )
    _signature(root, doc_type, folio)
    return root


def _with_discounts(base: Decimal, discounts: Sequence[Discount], exemption: int | None, places: int) -> Decimal:
    for row in discounts:
        if row.exemption_code != exemption:
            continue
        amount = round_half_up(base_of(row, base), places) if row.percent else Decimal(row.value)
        base = base + amount if row.surcharge else base - amount
    return base


def base_of(row: Discount, base: Decimal) -> Decimal:
    return base * Decimal(row.value) / 100


def envelope(*dtes: ET.Element, namespace: bool = True) -> bytes:
    """An EnvioDTE holding `dtes`."""
    root = ET.Element("EnvioDTE", version="1.0")
    set_dte = _sub(root, "SetDTE", ID="SetDoc")
    caratula = _sub(set_dte, "Caratula", version="1.0")
    for name, value in (
        ("RutEmisor", samples.DEFAULT_ISSUER_RUT),
        ("RutEnvia", samples.valid_rut(12_345_678)),
        ("RutReceptor", samples.DEFAULT_RECEIVER_RUT),
        ("FchResol", date(2014, 8, 22)),
        ("NroResol", 80),
        ("TmstFirmaEnv", f"{ISSUE_DATE.isoformat()}T10:20:00"),
    ):
        _sub(caratula, name, value)
    set_dte.extend(dtes)
    _signature(root, "envio", len(dtes))
    return _serialize(root, namespace=namespace, encoding="ISO-8859-1")


def _out(element: ET.Element, envelope_it: bool) -> bytes:
    return envelope(element) if envelope_it else _serialize(element, namespace=True, encoding="ISO-8859-1")


# -- the cases ------------------------------------------------------------------------------------


def diesel_invoice(
    *, folio: int = 2001, liters: int = 1_000, price: int = 800, specific_tax: int = 95_000, envelope: bool = True
) -> bytes:
    """A factura (33) for diesel: total = net + VAT + the specific tax (ImptoReten TipoImp 28)."""
    item = Item("Petróleo diésel", liters, price, tax_code=28, unit="LT")
    return _out(dte(folio=folio, items=[item], taxes=[(28, None, specific_tax)]), envelope)


def purchase_invoice(*, folio: int = 3001, net: int = 100_000, envelope: bool = True) -> bytes:
    """A factura de compra (46) whose buyer withholds all the VAT (TipoImp 15): total = net."""
    vat = int(round_half_up(Decimal(net) * IVA / 100))
    item = Item("Compra de chatarra", 1, net)
    return _out(dte(doc_type=46, folio=folio, items=[item], taxes=[(15, 19, vat)]), envelope)


#: The dollar lines of the export cases: 28.689,40 in all.
EXPORT_ITEMS = (
    Item("Vino tinto reserva caja 12 bot.", 150, Decimal("152.30"), exemption_code=1),
    Item("Flete internacional", 1, Decimal("5844.40"), exemption_code=1),
)
EXCHANGE_RATE = Decimal("936.12")


def export_invoice(
    *,
    folio: int = 4001,
    doc_type: int = 110,
    items: Sequence[Item] = EXPORT_ITEMS,
    currency: str = "DOLAR USA",
    rate: Decimal = EXCHANGE_RATE,
    peso_amounts: bool = True,
    reference: samples.Reference | None = None,
    envelope: bool = True,
) -> bytes:
    """A factura de exportación (110): Totales in dollars with decimals, OtraMoneda in PESO CL.

    Without `peso_amounts` OtraMoneda states only its exchange rate: the pesos are the parser's.
    """
    total = sum((item.total(2) for item in items), Decimal(0))
    pesos = written(total * rate)
    other: list[tuple[str, object]] = [("TpoMoneda", "PESO CL"), ("TpoCambio", rate)]
    if peso_amounts:
        other += [("MntExeOtrMnda", pesos), ("MntTotOtrMnda", pesos)]
    element = dte(
        doc_type=doc_type,
        folio=folio,
        items=items,
        currency=currency,
        places=2,
        other=other,
        id_doc=[("FmaPagExp", 1)] if doc_type == 110 else [],
        receiver_rut=FOREIGN_RECEIVER_RUT,
        reference=reference,
    )
    return _out(element, envelope)


def export_credit_note(*, folio: int = 51, invoice_folio: int = 4001, envelope: bool = True) -> bytes:
    """A nota de crédito de exportación (112) returning part of `export_invoice`: USD 1.523,00."""
    items = [Item("Devolución vino tinto reserva", 10, Decimal("152.30"), exemption_code=1)]
    reference = samples.Reference(folio=invoice_folio, issue_date=ISSUE_DATE, doc_type=110, code=3, reason="Devolución")
    return export_invoice(folio=folio, doc_type=112, items=items, reference=reference, envelope=envelope)


def export_debit_note(*, folio: int = 61, invoice_folio: int = 4001, envelope: bool = True) -> bytes:
    """A nota de débito de exportación (111) charging more freight on `export_invoice`: USD 250,75."""
    items = [Item("Ajuste flete internacional", 1, Decimal("250.75"), exemption_code=1)]
    reference = samples.Reference(folio=invoice_folio, issue_date=ISSUE_DATE, doc_type=110, code=3, reason="Flete")
    return export_invoice(folio=folio, doc_type=111, items=items, reference=reference, envelope=envelope)


def discounted_invoice(*, folio: int = 5001, percent: int = 22, envelope: bool = True) -> bytes:
    """A factura with a global discount of `percent` % on its afecto lines (100.000 + 23.457)."""
    items = [Item("Resma papel carta", 20, 5_000), Item("Tóner láser negro", 1, 23_457)]
    discount = Discount(percent, description=f"Descuento {percent}% cliente frecuente")
    return _out(dte(folio=folio, items=items, discounts=[discount]), envelope)


def line_discounts_invoice(*, folio: int = 6001, envelope: bool = True) -> bytes:
    """A factura whose lines carry a % discount, an amount discount and a % surcharge."""
    items = [
        Item("Silla ergonómica", 3, 89_990, discount_percent=10, code="SILLA-01", unit="UN"),
        Item("Escritorio", 1, 149_990, discount_amount=15_000, description="Melamina 120 x 60"),
        Item("Despacho urgente", 1, 12_000, surcharge_percent=25),
    ]
    return _out(dte(folio=folio, items=items), envelope)


def transfer_guide(*, folio: int = 7001, transfer_kind: int = 5, envelope: bool = True) -> bytes:
    """A guía de despacho (52) moving goods between the issuer's own premises (IndTraslado 5)."""
    items = [Item("Pallet cajas archivo", 4, 35_000, unit="PAL")]
    element = dte(doc_type=52, folio=folio, items=items, id_doc=[("TipoDespacho", 2), ("IndTraslado", transfer_kind)])
    return _out(element, envelope)


def credit_terms_invoice(*, folio: int = 8001, envelope: bool = True) -> bytes:
    """A factura on credit (FmaPago 2) in two instalments, due 30 and 60 days on."""
    items = [Item("Mantención equipos", 1, 200_000)]  # 238.000 with VAT
    element = dte(folio=folio, items=items, id_doc=[("FmaPago", 2), ("FchVenc", date(2024, 8, 9))])
    id_doc = element.find("Documento/Encabezado/IdDoc")
    assert id_doc is not None
    instalments = ((date(2024, 7, 10), 119_000, "Cuota 1 de 2"), (date(2024, 8, 9), 119_000, "Cuota 2 de 2"))
    for due, amount, note in instalments:  # between FmaPago and FchVenc, as the XSD orders them
        row = ET.Element("MntPagos")
        for name, value in (("FchPago", due), ("MntPago", amount), ("GlosaPagos", note)):
            _sub(row, name, value)
        id_doc.insert(len(id_doc) - 1, row)
    return _out(element, envelope)


def unbalanced_invoice(*, folio: int = 9001, off_by: int = 1_000, envelope: bool = True) -> bytes:
    """A factura whose MntTotal is `off_by` pesos more than its net and VAT make."""
    return _out(dte(folio=folio, items=[Item("Servicio de aseo", 1, 100_000)], total_off_by=off_by), envelope)
