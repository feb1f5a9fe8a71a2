"""Every amount the SII defines is read: currency and OtraMoneda, ImptoReten, global and line discounts,
payment terms, a guide's transfer kind; what the model cannot hold, and unknown codes, are said."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from pipeline import samples
from pipeline.dte import parse_file
from pipeline.dte.model import ForeignAmounts, ParsedDiscount, ParsedPayment, ParsedTax
from pipeline.dte.sii import MAX_LINES
from pipeline.dte.sii_money import CURRENCIES
from tests.support import sii_cases


def parsed(data: bytes):
    result = parse_file(data)
    (document,) = result.documents
    return document, result.problems


def test_diesel_invoice_adds_its_specific_tax_to_the_total():
    doc, problems = parsed(sii_cases.diesel_invoice(specific_tax=95_000))
    assert problems == [] and doc.discrepancies == ()
    assert (doc.currency, doc.foreign, doc.vat_rate) == ("CLP", None, Decimal(19))
    assert (doc.net, doc.vat, doc.total) == (800_000, 152_000, 1_047_000)
    assert doc.taxes == (ParsedTax(28, "Impuesto específico diésel", None, Decimal(95_000), withheld=False),)
    assert (doc.other_taxes, doc.vat_withheld) == (95_000, None)
    (line,) = doc.lines
    assert (line.additional_tax_code, line.unit, line.quantity, line.unit_price) == (28, "LT", "1000", "800")


def test_purchase_invoice_withholds_all_its_vat():
    doc, problems = parsed(sii_cases.purchase_invoice(net=100_000))
    assert problems == [] and doc.discrepancies == ()
    assert (doc.doc_type, doc.net, doc.vat, doc.total) == (46, 100_000, 19_000, 100_000)
    assert doc.taxes == (ParsedTax(15, "IVA retenido total", Decimal(19), Decimal(19_000), withheld=True),)
    assert (doc.other_taxes, doc.vat_withheld) == (None, 19_000)


def test_export_invoice_keeps_its_dollars_and_takes_pesos_from_otra_moneda():
    doc, problems = parsed(sii_cases.export_invoice())
    assert problems == [] and doc.discrepancies == ()
    assert doc.currency == "USD"
    assert doc.foreign == ForeignAmounts(
        "USD", "DOLAR USA", Decimal("936.12"), net=None, exempt=Decimal("28689.40"), vat=None, total=Decimal("28689.40")
    )
    assert str(doc.foreign.total) == "28689.40"  # not rounded to 28689: the bug this ends
    pesos = int((Decimal("28689.40") * Decimal("936.12")).quantize(Decimal(1)))
    assert (doc.net, doc.exempt, doc.vat, doc.total) == (None, pesos, None, pesos)
    assert [line.amount for line in doc.lines] == [Decimal("22845.00"), Decimal("5844.40")]
    assert [line.exemption_code for line in doc.lines] == [1, 1]


def test_export_invoice_without_peso_amounts_converts_at_its_rate_and_says_so():
    doc, problems = parsed(sii_cases.export_invoice(peso_amounts=False, rate=Decimal("900.5")))
    assert doc.total == doc.exempt == 25_834_805  # 28689.40 x 900.5 = 25834804.7, rounded half up
    assert problems == [
        "DTE #1: Totales in DOLAR USA: MntExe, MntTotal in pesos at TpoCambio 900.5, as OtraMoneda gives no peso amount"
    ]


def test_export_invoice_without_any_rate_leaves_pesos_blank_with_the_problem():
    data = sii_cases.export_invoice(peso_amounts=False).replace(b"<TpoCambio>936.12</TpoCambio>", b"")
    doc, problems = parsed(data)
    assert (doc.total, doc.foreign.total, doc.foreign.exchange_rate) == (None, Decimal("28689.40"), None)
    assert problems == [
        "DTE #1: Totales in DOLAR USA: no peso amount and no exchange rate for MntExe, MntTotal; left blank"
    ]


@pytest.mark.parametrize(
    ("case", "doc_type", "dollars"),
    [(sii_cases.export_credit_note, 112, Decimal("1523.00")), (sii_cases.export_debit_note, 111, Decimal("250.75"))],
)
def test_export_notes_are_in_dollars_and_point_at_their_invoice(case, doc_type, dollars):
    doc, problems = parsed(case())
    assert problems == [] and doc.discrepancies == ()
    assert (doc.doc_type, doc.currency, doc.foreign.total) == (doc_type, "USD", dollars)
    assert doc.total == int((dollars * sii_cases.EXCHANGE_RATE).quantize(Decimal(1)))
    assert (doc.references[0].ref_type, doc.references[0].ref_folio) == ("110", "4001")


def test_peso_invoice_with_an_otra_moneda_block_keeps_it_as_foreign():
    element = sii_cases.dte(
        other=[("TpoMoneda", "EURO"), ("TpoCambio", "1012.5"), ("MntNetoOtrMnda", "98.77"), ("MntTotOtrMnda", "117.53")]
    )
    doc, problems = parsed(sii_cases.envelope(element))
    assert problems == [] and (doc.currency, doc.total) == ("CLP", 119_000)
    assert doc.foreign == ForeignAmounts(
        "EUR", "EURO", Decimal("1012.5"), net=Decimal("98.77"), total=Decimal("117.53")
    )


def test_global_discount_is_computed_on_the_afecto_lines():
    doc, problems = parsed(sii_cases.discounted_invoice(percent=22))
    assert problems == [] and doc.discrepancies == ()
    assert doc.discounts == (
        ParsedDiscount(
            line=1,
            surcharge=False,
            description="Descuento 22% cliente frecuente",
            percent=True,
            value=Decimal(22),
            amount=Decimal(27_161),  # 22% of 123.457 = 27.160,54
        ),
    )
    assert (doc.net, doc.vat, doc.total) == (96_296, 18_296, 114_592)


def test_an_exempt_discount_applies_to_the_exempt_lines():
    items = [sii_cases.Item("Afecto", 1, 10_000), sii_cases.Item("Exento", 1, 5_001, exemption_code=1)]
    element = sii_cases.dte(items=items, discounts=[sii_cases.Discount(10, exemption_code=1)])
    doc, problems = parsed(sii_cases.envelope(element))
    assert problems == [] and doc.discrepancies == ()
    assert (doc.discounts[0].amount, doc.discounts[0].exemption_code, doc.exempt) == (Decimal(500), 1, 4_501)


def test_every_line_field_is_read():
    doc, problems = parsed(sii_cases.line_discounts_invoice())
    assert problems == [] and doc.discrepancies == ()
    chair, desk, delivery = doc.lines
    assert (chair.number, chair.code, chair.name, chair.unit, chair.quantity, chair.unit_price) == (
        1,
        "SILLA-01",
        "Silla ergonómica",
        "UN",
        "3",
        "89990",
    )
    assert (chair.discount_percent, chair.discount_amount, chair.amount) == (Decimal(10), Decimal(26_997), 242_973)
    assert (desk.description, desk.discount_percent, desk.discount_amount, desk.amount) == (
        "Melamina 120 x 60",
        None,
        Decimal(15_000),
        Decimal(134_990),
    )
    assert (delivery.surcharge_percent, delivery.surcharge_amount, delivery.amount) == (
        Decimal(25),
        Decimal(3_000),
        Decimal(15_000),
    )
    assert all(line.exemption_code is None and not line.exempt for line in doc.lines)
    assert (doc.net, doc.vat, doc.total) == (392_963, 74_663, 467_626)


@pytest.mark.parametrize("code", [1, 2, 3, 4, 5, 6])
def test_any_exemption_code_is_kept(code):
    element = sii_cases.dte(items=[sii_cases.Item("Envase", 1, 100_000, exemption_code=code)])
    doc, _ = parsed(sii_cases.envelope(element))
    assert (doc.lines[0].exemption_code, doc.lines[0].exempt) == (code, code == 1)


def test_guide_says_its_transfer_kind():
    doc, problems = parsed(sii_cases.transfer_guide(transfer_kind=5))
    assert problems == [] and doc.discrepancies == ()
    assert (doc.doc_type, doc.transfer_kind, doc.total) == (52, 5, 166_600)


def test_payment_terms_and_instalments_are_read():
    doc, problems = parsed(sii_cases.credit_terms_invoice())
    assert problems == [] and doc.discrepancies == ()
    assert (doc.payment_form, doc.due_date) == (2, date(2024, 8, 9))
    assert doc.payments == (
        ParsedPayment(date(2024, 7, 10), Decimal(119_000), "Cuota 1 de 2"),
        ParsedPayment(date(2024, 8, 9), Decimal(119_000), "Cuota 2 de 2"),
    )


def test_peso_only_totals_are_read():
    extra = [("MontoNF", 1_500), ("MontoPeriodo", 119_000), ("SaldoAnterior", 20_000), ("VlrPagar", 140_500)]
    element = sii_cases.dte(totals_extra=extra)
    doc, problems = parsed(sii_cases.envelope(element))
    assert problems == [] and doc.discrepancies == ()
    assert (doc.non_billable, doc.period_amount, doc.previous_balance, doc.amount_due) == (
        1_500,
        119_000,
        20_000,
        140_500,
    )


def test_an_element_the_model_does_not_hold_is_said():
    data = sii_cases.diesel_invoice()
    data = data.replace(b"<MntTotal>", b"<MntMargenCom>5000</MntMargenCom><MntTotal>", 1)
    data = data.replace(b"<MontoItem>", b"<PrcRef>790</PrcRef><MontoItem>", 1)
    data = data.replace(b"<FchEmis>", b"<MntCancel>1000</MntCancel><FchEmis>", 1)
    doc, problems = parsed(data)
    assert problems == [
        "DTE #1: line 1: Detalle/PrcRef is not held; not read",
        "DTE #1: Totales/MntMargenCom is not held; not read",
        "DTE #1: IdDoc/MntCancel is not held; not read",
    ]
    assert doc.total == 1_047_000


def test_an_unknown_currency_is_a_problem_and_recorded_as_xxx():
    doc, problems = parsed(sii_cases.export_invoice(currency="DOBLON"))
    assert problems == ["DTE #1: Totales/TpoMoneda 'DOBLON' is not a currency of the SII's table; recorded as XXX"]
    assert (doc.currency, doc.foreign.currency, doc.foreign.name, doc.foreign.total) == (
        "XXX",
        "XXX",
        "DOBLON",
        Decimal("28689.40"),
    )


def test_an_unknown_tax_code_is_a_problem_and_counts_as_additional():
    element = sii_cases.dte(taxes=[(99, None, 1_000)])
    doc, problems = parsed(sii_cases.envelope(element))
    assert problems == [
        "DTE #1: ImptoReten 1: TipoImp '99' is not in the SII's table of taxes; counted as an additional tax"
    ]
    assert doc.taxes == (ParsedTax(99, "Impuesto código 99", None, Decimal(1_000), withheld=False),)
    assert (doc.other_taxes, doc.discrepancies) == (1_000, ())


@pytest.mark.parametrize(
    ("name", "iso"),
    [
        ("PESO CL", "CLP"),
        ("DOLAR USA", "USD"),
        ("EURO", "EUR"),
        ("FRANCO SZ", "CHF"),
        ("LIBRA EST", "GBP"),
        ("YEN", "JPY"),
        ("DOLAR CAN", "CAD"),
        ("DOLAR AUST", "AUD"),
        ("PESO MEX", "MXN"),
        ("REAL BRASIL", "BRL"),
        ("PESO ARG", "ARS"),
        ("YUAN", "CNY"),
        ("RENMINBI", "CNY"),
    ],
)
def test_the_sii_currency_names_map_to_iso_4217(name, iso):
    assert CURRENCIES[name] == iso


def test_junk_amounts_are_blank_and_said_never_raised():
    data = sii_cases.export_invoice().replace(b"<MntTotal>28689.40</MntTotal>", b"<MntTotal>NaN</MntTotal>")
    data = data.replace(b"<TpoCambio>936.12</TpoCambio>", b"<TpoCambio>1E+30</TpoCambio>")
    doc, problems = parsed(data)
    assert doc.foreign.total is None and doc.foreign.exchange_rate is None
    assert "DTE #1: MntTotal 'NaN' is not a number of at most 18 digits; left blank" in problems
    assert "DTE #1: OtraMoneda/TpoCambio '1E+30' is not a number of at most 18 digits; left blank" in problems


def test_a_dte_of_more_lines_than_any_the_sii_allows_keeps_the_first_and_says_how_many():
    many = tuple((f"Ítem {n}", 1, 100) for n in range(MAX_LINES + 5))
    parsed = parse_file(samples.dte_xml(folio=42, lines=many))
    (document,) = parsed.documents
    assert (len(document.lines), document.line_count) == (MAX_LINES, MAX_LINES + 5)
    assert document.discrepancies == ()
    assert f"{MAX_LINES + 5} lines; the first {MAX_LINES} are kept" in "; ".join(parsed.problems)
