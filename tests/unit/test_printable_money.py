"""The printable shows what the XML says about money: discounts, other taxes, currency and exchange
rate, payment terms, the document's own VAT rate, a guide's transfer kind; and it never overflows."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

import pypdfium2 as pdfium
import pytest

from pipeline import samples
from pipeline.dte import parse_file
from pipeline.dte.model import (
    Discrepancy,
    ForeignAmounts,
    ParsedDiscount,
    ParsedDocument,
    ParsedLine,
    ParsedPayment,
    ParsedTax,
)
from pipeline.render.printable import printable_pdf

#: A real parse of a sample invoice: a TED to draw, issuer and receiver; each test states the money.
BASE = parse_file(samples.dte_xml(folio=501)).documents[0]


def document(**fields: Any) -> ParsedDocument:
    return dataclasses.replace(BASE, **fields)


def pages(doc: ParsedDocument) -> list[str]:
    pdf = pdfium.PdfDocument(printable_pdf(doc))
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


def text_of(doc: ParsedDocument) -> str:
    return "\n".join(pages(doc))


def flat(text: str) -> str:
    """The text with every run of spaces and line breaks as one space (pdfium puts either between
    a label and its amount)."""
    return " ".join(text.split())


def test_a_diesel_invoice_shows_its_specific_tax_with_its_name_rate_and_amount():
    diesel = ParsedTax(
        code=28, name="Impuesto específico diésel", rate=Decimal("1.5"), amount=Decimal(63_000), withheld=False
    )
    doc = document(
        net=1_000_000,
        exempt=None,
        vat=190_000,
        total=1_253_000,
        vat_rate=Decimal("19.00"),
        taxes=(diesel,),
        other_taxes=63_000,
        lines=(
            ParsedLine(
                name="Petróleo diésel",
                quantity="1000",
                unit="LT",
                unit_price="1000",
                amount=Decimal(1_000_000),
                additional_tax_code=28,
            ),
        ),
    )
    text = flat(text_of(doc))
    assert "Monto neto $1.000.000" in text
    assert "IVA 19% $190.000" in text
    assert "Impuesto específico diésel 1,5% $63.000" in text
    assert "Total $1.253.000" in text
    assert "Petróleo diésel" in text and "LT" in text
    assert "Impuesto adicional: Impuesto específico diésel" in text, "the line says which tax it bears"


def test_the_vat_rate_is_the_documents_own():
    text = flat(text_of(document(net=100_000, vat=10_000, total=110_000, vat_rate=Decimal(10))))
    assert "IVA 10% $10.000" in text and "IVA 19%" not in text


def test_a_purchase_invoice_shows_the_vat_withheld_subtracting():
    withheld = ParsedTax(code=15, name="IVA retenido total", rate=Decimal(19), amount=Decimal(19_000), withheld=True)
    doc = document(
        doc_type=46,
        type_name="Factura de compra electrónica",
        net=100_000,
        vat=19_000,
        total=100_000,
        vat_rate=Decimal(19),
        taxes=(withheld,),
        vat_withheld=19_000,
    )
    text = flat(text_of(doc))
    assert "FACTURA DE COMPRA ELECTRÓNICA" in text
    assert "IVA 19% $19.000" in text
    assert "IVA retenido total 19% -$19.000" in text
    assert "Total $100.000" in text


def test_a_dollar_export_invoice_reads_in_dollars_with_its_exchange_rate_and_pesos():
    usd = ForeignAmounts(
        currency="USD",
        name="DOLAR USA",
        exchange_rate=Decimal("950.25"),
        exempt=Decimal("28689.40"),
        total=Decimal("28689.40"),
    )
    doc = document(
        doc_type=110,
        type_name="Factura de exportación electrónica",
        currency="USD",
        foreign=usd,
        net=None,
        vat=None,
        exempt=27_262_102,
        total=27_262_102,
        lines=(
            ParsedLine(
                name="Cobre cátodos",
                quantity="4",
                unit="TON",
                unit_price="7172.35",
                amount=Decimal("28689.40"),
                exemption_code=1,
            ),
        ),
    )
    text = flat(text_of(doc))
    assert "Moneda: DOLAR USA (USD) · Tipo de cambio: 1 USD = $950,25" in text
    assert "US$ 7.172,35 US$ 28.689,40" in text, "the line's price and amount in dollars"
    assert "Monto exento US$ 28.689,40" in text
    assert "Total US$ 28.689,40" in text
    assert "Equivalente en pesos Monto exento $27.262.102 Total $27.262.102" in text
    assert "$28.689" not in text.replace("US$ 28.689", ""), "dollars are never printed as pesos"
    assert "Cobre cátodos (exento)" in text


def test_a_peso_invoice_with_another_currency_adds_those_amounts_after_its_own():
    other = ForeignAmounts(currency="EUR", name="EURO", exchange_rate=Decimal("1020.5"), total=Decimal("116.61"))
    text = flat(text_of(document(net=100_000, vat=19_000, total=119_000, vat_rate=Decimal(19), foreign=other)))
    assert "Otra moneda: EURO (EUR) · Tipo de cambio: 1 EUR = $1.020,5" in text
    assert "Total $119.000" in text
    assert "Otra moneda: EURO Tipo de cambio 1 EUR = $1.020,5 Total € 116,61" in text


def test_a_global_discount_is_a_row_above_the_totals():
    discount = ParsedDiscount(
        line=1,
        surcharge=False,
        description="Cliente frecuente",
        percent=True,
        value=Decimal(22),
        amount=Decimal(22_000),
    )
    surcharge = ParsedDiscount(
        line=2, surcharge=True, description="", percent=False, value=Decimal(5_000), amount=Decimal(5_000)
    )
    doc = document(net=83_000, vat=15_770, total=98_770, vat_rate=Decimal(19), discounts=(discount, surcharge))
    text = flat(text_of(doc))
    assert "Descuento global 22% (Cliente frecuente) -$22.000 Recargo global $5.000 Monto neto $83.000" in text


def test_line_discounts_surcharges_descriptions_and_exemption_kinds_are_under_each_line():
    lines = (
        ParsedLine(
            name="Harina",
            description="Saco de 25 kg, flor",
            quantity="10",
            unit="SACO",
            unit_price="10000",
            discount_percent=Decimal(10),
            discount_amount=Decimal(10_000),
            amount=Decimal(90_000),
        ),
        ParsedLine(name="Flete", unit_price="5000", surcharge_amount=Decimal(500), amount=Decimal(5_500)),
        ParsedLine(name="Bidones", quantity="2", amount=Decimal(4_000), exemption_code=3),
        ParsedLine(name="Muestra", quantity="1", amount=Decimal(0), exemption_code=2),
        ParsedLine(name="Azúcar", quantity="3", unit_price="12.5", amount=Decimal(38)),
    )
    text = flat(text_of(document(lines=lines)))
    assert "Harina 10 SACO $10.000 $90.000 Saco de 25 kg, flor Descuento 10%: -$10.000" in text
    assert "Flete $5.000 $5.500 Recargo: $500" in text
    assert "Bidones (garantía de depósito por envases)" in text
    assert "Muestra (no facturable)" in text
    assert "$12,5 $38" in text, "a peso unit price keeps its decimals"


def test_a_guide_says_its_transfer_kind_and_that_it_is_not_a_sale():
    guide = document(doc_type=52, type_name="Guía de despacho electrónica", transfer_kind=5)
    assert "Traslado: traslado interno (no constituye venta)" in text_of(guide)
    sale = text_of(dataclasses.replace(guide, transfer_kind=1))
    assert "Traslado: operación constituye venta" in sale and "no constituye venta" not in sale


def test_payment_terms_due_date_and_instalments():
    payments = (
        ParsedPayment(due=date(2024, 6, 15), amount=Decimal(500_000), note="primera cuota"),
        ParsedPayment(due=date(2024, 7, 15), amount=Decimal(690_000)),
    )
    doc = document(payment_form=2, due_date=date(2024, 6, 30), payments=payments, total=1_190_000)
    text = flat(text_of(doc))
    assert "Forma de pago: Crédito · Fecha de vencimiento: 30-06-2024" in text
    assert "Pagos: 15-06-2024 $500.000 primera cuota 15-07-2024 $690.000" in text
    assert "Forma de pago: Sin costo (entrega gratuita)" in text_of(document(payment_form=3))


def test_credits_deposits_and_what_is_due_are_in_the_totals():
    doc = document(
        net=1_000_000,
        vat=190_000,
        vat_rate=Decimal(19),
        special_credit=123_500,
        deposit_guarantee=3_000,
        total=1_069_500,
        non_billable=2_000,
        previous_balance=50_000,
        amount_due=1_121_500,
        vat_not_withheld=7_000,
    )
    text = flat(text_of(doc))
    assert (
        "IVA 19% $190.000 IVA no retenido $7.000 Crédito especial empresas constructoras -$123.500 "
        "Garantía por depósito de envases $3.000 Total $1.069.500 Monto no facturable $2.000 "
        "Saldo anterior $50.000 Valor a pagar $1.121.500"
    ) in text


def test_a_document_whose_sums_do_not_add_up_prints_what_it_says():
    wrong = Discrepancy(what="total", stated=Decimal(999_999), expected=Decimal(119_000))
    text = flat(text_of(document(net=100_000, vat=19_000, total=999_999, discrepancies=(wrong,))))
    assert "Total $999.999" in text
    assert "$119.000" not in text and "total" not in text.replace("Total", "")


def test_many_lines_taxes_and_instalments_paginate_and_long_texts_are_cut():
    long_name = "Repuesto " + "x" * 300
    lines = tuple(
        ParsedLine(name=f"{long_name} {i}", description="palabra " * 400, amount=Decimal(i), number=i)
        for i in range(60)
    )
    taxes = tuple(
        ParsedTax(code=27, name=f"Impuesto {i}", rate=Decimal(10), amount=Decimal(i), withheld=False) for i in range(80)
    )
    payments = tuple(ParsedPayment(due=date(2024, 1, 1 + i % 28), amount=Decimal(1000 + i)) for i in range(70))
    texts = pages(document(lines=lines, taxes=taxes, payments=payments))
    assert len(texts) > 5
    joined = flat("\n".join(texts))
    for wanted in ("$1.069", "Impuesto 79 10%", "Timbre Electrónico SII", "continúa en la página 2", "(página 2)"):
        assert wanted in joined, wanted
    assert "x" * 300 not in joined and "…" in joined, "a long name is cut"
    assert joined.count("palabra") < 60 * 3 * 30, "a long description is cut to a few lines"
    pdf = pdfium.PdfDocument(printable_pdf(document(lines=lines, taxes=taxes, payments=payments)))
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            width, height = page.get_size()
            textpage = page.get_textpage()
            for char in range(textpage.count_chars()):
                left, bottom, right, top = textpage.get_charbox(char)
                assert left >= 0 and right <= width and bottom >= 0 and top <= height, (index, char)
    finally:
        pdf.close()


@pytest.mark.parametrize(("vat_rate", "row"), [(None, "IVA $19.000"), (Decimal("19.0"), "IVA 19% $19.000")])
def test_the_vat_row_names_the_rate_the_document_states(vat_rate, row):
    text = flat(text_of(document(net=100_000, vat=19_000, total=119_000, vat_rate=vat_rate)))
    assert row in text
    assert ("19%" in text) == (vat_rate is not None), "no rate is made up"
