"""A DTE's sums are checked as the SII checks them: what adds up says nothing, what does not is found."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from email import message_from_bytes

import pytest

from pipeline import samples
from pipeline.dte import parse_file
from pipeline.dte.arithmetic import check
from pipeline.dte.model import Discrepancy
from tests.support import dte_files, sii_cases
from tests.support.real_samples import DTE_REAL_DIR

#: The real DTE beside the repository (shared/ next to the clone), or where the workplace keeps them.
REAL = sorted(DTE_REAL_DIR.glob("*.xml"))
CASES = [
    sii_cases.diesel_invoice,
    sii_cases.purchase_invoice,
    sii_cases.export_invoice,
    sii_cases.export_credit_note,
    sii_cases.export_debit_note,
    sii_cases.discounted_invoice,
    sii_cases.line_discounts_invoice,
    sii_cases.transfer_guide,
    sii_cases.credit_terms_invoice,
]


def documents(data: bytes):
    return parse_file(data).documents


@pytest.mark.skipif(not REAL, reason="the real DTE samples are not on this machine")
@pytest.mark.parametrize("path", REAL, ids=lambda path: path.name)
def test_real_documents_add_up(path):
    (doc,) = documents(path.read_bytes())
    assert doc.discrepancies == () and doc.total is not None and doc.lines


def test_everything_samples_generates_adds_up(tmp_path):
    generated = [samples.dte_xml(), dte_files.three_dte_envelope()]
    generated += [samples.dte_xml(doc_type=34, lines=[("Asesoría", 1, 150_000)], exempt_lines=[("Flete", 2, 999)])]
    generated += [samples.dte_xml(lines=[("Kilo de pan", 1.5, 1_999)], exempt_lines=[("Libro", 1, 12_000)])]
    for path in samples.write_demo_mailbox(tmp_path, count=15, seed=7):
        message = message_from_bytes(path.read_bytes())
        generated += [
            part.get_payload(decode=True) for part in message.walk() if part.get_filename("").endswith(".xml")
        ]
    found = [doc for data in generated for doc in documents(data)]
    assert len(found) >= 20
    assert [(doc.folio, doc.discrepancies) for doc in found if doc.discrepancies] == []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_every_case_adds_up(case):
    (doc,) = documents(case())
    assert doc.discrepancies == () and check(doc) == ()


def test_a_total_off_by_1000_is_found():
    (doc,) = documents(sii_cases.unbalanced_invoice(off_by=1_000))
    assert doc.discrepancies == (Discrepancy("total", Decimal(120_000), Decimal(119_000)),)
    assert doc.discrepancies[0].difference == 1_000


def test_a_line_that_does_not_add_up_is_found_by_its_number():
    items = [sii_cases.Item("Bien", 2, 1_000), sii_cases.Item("Mal", 3, 1_000, amount=2_500)]
    (doc,) = documents(sii_cases.envelope(sii_cases.dte(items=items)))
    assert doc.discrepancies == (Discrepancy("line 2", Decimal(2_500), Decimal(3_000)),)


def test_net_exempt_and_total_are_each_checked():
    (doc,) = documents(sii_cases.discounted_invoice())
    wrong = dataclasses.replace(doc, net=doc.net + 1, exempt=5)
    assert check(wrong) == (
        Discrepancy("net", Decimal(96_297), Decimal(96_296)),
        Discrepancy("exempt", Decimal(5), Decimal(0)),
        Discrepancy("total", Decimal(114_592), Decimal(96_297 + 5 + 18_296)),  # the VAT still rounds to 18.296
    )


def test_vat_is_the_net_at_the_rate_rounded_half_up():
    (doc,) = documents(sii_cases.envelope(sii_cases.dte(items=[sii_cases.Item("Uno", 1, 8_943)])))
    assert (doc.vat, doc.discrepancies) == (1_699, ())  # 8943 x 19% = 1699.17
    assert check(dataclasses.replace(doc, vat=1_700)) == (
        Discrepancy("vat", Decimal(1_700), Decimal(1_699)),
        Discrepancy("total", Decimal(10_642), Decimal(10_643)),
    )


def test_a_withheld_tax_subtracts_and_an_additional_one_adds():
    (purchase,) = documents(sii_cases.purchase_invoice(net=100_000))
    as_if_added = dataclasses.replace(purchase, taxes=(dataclasses.replace(purchase.taxes[0], withheld=False),))
    assert check(as_if_added) == (Discrepancy("total", Decimal(100_000), Decimal(138_000)),)


def test_amounts_due_are_checked_against_total_plus_not_billable_and_previous_balance():
    extra = [("MontoNF", 1_500), ("SaldoAnterior", 20_000), ("VlrPagar", 140_000)]
    (doc,) = documents(sii_cases.envelope(sii_cases.dte(totals_extra=extra)))
    assert doc.discrepancies == (Discrepancy("amount due", Decimal(140_000), Decimal(140_500)),)


def test_gross_lines_are_divided_by_the_vat_rate():
    items = [sii_cases.Item("Con IVA", 1, 119_000)]
    element = sii_cases.dte(items=items, id_doc=[("MntBruto", 1)])
    data = sii_cases.envelope(element).replace(b"<MntNeto>119000</MntNeto>", b"<MntNeto>100000</MntNeto>")
    data = data.replace(b"<IVA>22610</IVA>", b"<IVA>19000</IVA>").replace(b"<MntTotal>141610<", b"<MntTotal>119000<")
    (doc,) = documents(data)
    assert (doc.amounts_include_vat, doc.net, doc.vat, doc.total) == (True, 100_000, 19_000, 119_000)
    assert doc.discrepancies == ()
    assert check(dataclasses.replace(doc, amounts_include_vat=False))[0] == Discrepancy(
        "net", Decimal(100_000), Decimal(119_000)
    )


def test_foreign_amounts_are_checked_in_their_currency_to_their_decimals():
    (doc,) = documents(sii_cases.export_invoice())
    wrong = dataclasses.replace(doc, foreign=dataclasses.replace(doc.foreign, total=Decimal("28689.41")))
    assert check(wrong) == (Discrepancy("total", Decimal("28689.41"), Decimal("28689.40")),)


def test_a_check_without_its_inputs_is_skipped():
    (doc,) = documents(sii_cases.transfer_guide())
    bare = dataclasses.replace(doc, lines=(), vat_rate=None, net=None, exempt=None, vat=None)
    assert check(bare) == ()
    no_prices = dataclasses.replace(doc, lines=(dataclasses.replace(doc.lines[0], quantity="", amount=None),))
    assert check(no_prices) == ()
