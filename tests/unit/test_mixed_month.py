"""A mixed month through the pipeline, as mail: invoices, notes, a guide, dollars, a cesión.

Each file is stored, parsed in the sandbox and recorded by the real actors; the month then totals
with credit notes subtracting, the guide left out and the dollar documents in pesos.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from pipeline import samples
from pipeline.dte import parse_file
from tests.support import aec_cases, sii_cases
from tests.support.inline import process_folder
from webapp.documents.models import Document
from webapp.documents.services.assignments import current_assignment
from webapp.documents.totals import document_totals

pytestmark = pytest.mark.django_db

CREDIT_NOTE = samples.dte_xml(
    doc_type=61,
    folio=77,
    lines=(("Devolución café de grano", 1, 12_990),),
    reference=samples.Reference(folio=1234, issue_date=date(2024, 5, 14)),
)
#: (file, how it counts in the month's totals: +1, -1 or 0 for not summed)
MONTH = (
    (samples.dte_xml(folio=1234), +1),
    (CREDIT_NOTE, -1),
    (sii_cases.diesel_invoice(), +1),
    (sii_cases.purchase_invoice(), +1),
    (sii_cases.export_invoice(), +1),
    (sii_cases.export_credit_note(), -1),
    (sii_cases.export_debit_note(), +1),
    (sii_cases.discounted_invoice(), +1),
    (sii_cases.line_discounts_invoice(), +1),
    (sii_cases.transfer_guide(), 0),
    (sii_cases.credit_terms_invoice(), +1),
)


def _mail(xml: bytes, index: int) -> bytes:
    return samples.supplier_email(
        subject=f"Documento {index}", attachments=[(f"dte-{index}.xml", "application/xml", xml)]
    )


def test_a_mixed_month_of_mail_totals_right(tmp_path):
    mails = tuple(_mail(xml, index) for index, (xml, _) in enumerate(MONTH))
    process_folder(
        tmp_path / "month", (*mails, _mail(aec_cases.aec_xml(cessions=aec_cases.CHAIN), 99)), name="mes", why=""
    )

    expected = {"net": 0, "exempt": 0, "vat": 0, "total": 0}
    dollars = Decimal(0)
    for xml, sign in MONTH:
        (parsed,) = parse_file(xml).documents
        for name in expected:
            expected[name] += sign * (getattr(parsed, name) or 0)
        if parsed.foreign is not None and sign:
            dollars += sign * (parsed.foreign.total or 0)

    documents = Document.objects.all()
    totals = document_totals(documents)
    assert (totals.count, totals.summed, totals.guides) == (len(MONTH), len(MONTH) - 1, 1)
    assert {name: getattr(totals, name) for name in expected} == expected
    assert totals.foreign == {"USD": dollars}
    assert dollars == Decimal("28689.40") - Decimal("1523.00") + Decimal("250.75")
    assert totals.other_taxes == 95_000 and totals.vat_withheld == 19_000
    assert list(documents.filter(adds_up=False)) == []

    invoice = Document.objects.get(doc_type=33, folio=1234)
    assignment = current_assignment(invoice)
    assert assignment is not None and assignment.assignee_name == aec_cases.FACTORING_NUBLE
    dollar_invoice = Document.objects.get(doc_type=110)
    assert (dollar_invoice.foreign_currency, dollar_invoice.foreign_total) == ("USD", Decimal("28689.40"))
    assert dollar_invoice.total == int(
        (Decimal("28689.40") * sii_cases.EXCHANGE_RATE).quantize(Decimal(1), rounding="ROUND_HALF_UP")
    )
    guide = Document.objects.get(doc_type=52)
    assert guide.transfer_kind == Document.TransferKind.INTERNAL
    assert Document.objects.get(doc_type=33, folio=8001).due_date == date(2024, 8, 9)
