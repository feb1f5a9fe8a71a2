"""What a DTE says about money, recorded: the Document's amounts, currency, terms and arithmetic, and its
lines, other taxes, global discounts and instalments as rows; idempotent, and cheap for long documents.

The parsed dataclasses are the contract with the parser: the cases are built as it fills them.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.storage import storages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipeline.dte import Kind, ParsedDocument, ParsedFile
from pipeline.dte.model import Discrepancy, ForeignAmounts, ParsedDiscount, ParsedLine, ParsedPayment, ParsedTax
from pipeline.storage import save_spooled, spool
from tests.support import dte_files
from webapp.documents.models import Document, DocumentDiscount, DocumentLine, DocumentPayment, DocumentTax
from webapp.documents.services.documents import (
    document_record,
    xml_attachment_process,
    xml_attachment_record,
    xml_attachment_reset,
)
from webapp.inbox.models import Attachment, Blob, Mailbox, MailMessage

pytestmark = pytest.mark.django_db

ROWS = (DocumentLine, DocumentTax, DocumentDiscount, DocumentPayment)
_serial = itertools.count(1)


@pytest.fixture
def mailbox():
    return Mailbox.objects.create(name="suppliers", settings={"path": "/tmp/none"})


def xml_attachment(mailbox: Mailbox, content: bytes | None = None) -> Attachment:
    """A stored XML attachment of its own e-mail, PENDING as save_message leaves it."""
    n = next(_serial)
    content = content or f"<DTE n='{n}'/>".encode()
    with spool(iter([content]), max_bytes=10**8) as spooled:
        blob = Blob.objects.filter(sha256=spooled.sha256).first() or Blob.objects.create(
            sha256=spooled.sha256,
            size=spooled.size,
            content_type="application/xml",
            storage_name=save_spooled(storages["default"], spooled),
        )
    message = MailMessage.objects.create(
        mailbox=mailbox, source_id=f"m{n}", status=MailMessage.Status.PROCESSED, subject="Envío DTE"
    )
    return Attachment.objects.create(
        message=message,
        position=0,
        original_filename=f"DTE_{n}.xml",
        filename=f"DTE_{n}.xml",
        content_type="application/xml",
        blob=blob,
        status=Attachment.Status.STORED,
        preview_status=Attachment.PreviewStatus.PENDING,
    )


def dte(**fields) -> ParsedDocument:
    """A factura electrónica from Proveedora Austral SpA, changed by `fields`."""
    base = ParsedDocument(
        country="CL",
        doc_type=33,
        type_name="Factura electrónica",
        folio=4711,
        issue_date=date(2025, 3, 14),
        issuer_rut="76086428-5",
        issuer_rut_valid=True,
        issuer_rut_error="",
        issuer_name="Proveedora Austral SpA",
        receiver_rut="77500100-3",
        receiver_rut_valid=True,
        receiver_name="Comercializadora Los Andes Ltda.",
        net=None,
        exempt=None,
        vat=None,
        total=None,
        vat_rate=Decimal(19),
    )
    return dataclasses.replace(base, **fields)


def record(attachment: Attachment, *documents: ParsedDocument) -> Document:
    """The attachment recorded as a bare DTE (as xml_attachment_process does after parsing); its first Document."""
    parsed = ParsedFile(format="sii-dte", kind=Kind.DOCUMENT, documents=list(documents), summary="DTE")
    xml_attachment_record(attachment=attachment, parsed=parsed)
    first = documents[0]
    return Document.objects.get(issuer_rut=first.issuer_rut, doc_type=first.doc_type, folio=first.folio)


def rows(document: Document) -> dict[str, list[tuple]]:
    """Every money row of the document, ids included."""
    return {
        model.__name__: list(model.objects.filter(document=document).order_by("pk").values_list()) for model in ROWS
    }


DIESEL = dte(
    folio=8123,
    net=1760,
    vat=334,
    total=2465,
    other_taxes=371,
    lines=(
        ParsedLine(
            name="Petróleo diésel",
            quantity="2.5",
            unit_price="704",
            amount=Decimal(1760),
            number=1,
            code="DSL",
            unit="LT",
            additional_tax_code=28,
        ),
    ),
    taxes=(ParsedTax(code=28, name="Impuesto específico diésel", rate=None, amount=Decimal(371), withheld=False),),
    payment_form=2,
    due_date=date(2025, 4, 13),
    payments=(
        ParsedPayment(due=date(2025, 3, 29), amount=Decimal(1232), note="Primera cuota"),
        ParsedPayment(due=date(2025, 4, 13), amount=Decimal(1233)),
    ),
)


def test_diesel_invoice_records_its_specific_tax_terms_and_lines(mailbox):
    document = record(xml_attachment(mailbox), DIESEL)

    assert (document.net, document.vat, document.other_taxes, document.total) == (1760, 334, 371, 2465)
    assert (document.vat_rate, document.currency, document.foreign_currency) == (Decimal("19.00"), "CLP", "")
    assert (document.payment_form, document.due_date) == (Document.PaymentForm.CREDIT, date(2025, 4, 13))
    assert (document.adds_up, document.arithmetic_problems, document.total_difference) == (True, "", None)
    assert document.line_count == 1
    line = DocumentLine.objects.get(document=document)
    assert (line.number, line.code, line.name, line.unit) == (1, "DSL", "Petróleo diésel", "LT")
    assert (line.quantity, line.unit_price, line.amount) == (Decimal("2.5"), Decimal(704), Decimal(1760))
    assert line.additional_tax_code == 28
    tax = DocumentTax.objects.get(document=document)
    assert (tax.code, tax.name, tax.rate, tax.amount, tax.withheld) == (
        28,
        "Impuesto específico diésel",
        None,
        Decimal(371),
        False,
    )
    assert list(DocumentPayment.objects.filter(document=document).values_list("number", "due", "amount", "note")) == [
        (1, date(2025, 3, 29), Decimal(1232), "Primera cuota"),
        (2, date(2025, 4, 13), Decimal(1233), ""),
    ]


def test_purchase_invoice_with_vat_fully_withheld(mailbox):
    purchase = dte(
        doc_type=46,
        type_name="Factura de compra electrónica",
        folio=310,
        net=250_000,
        vat=47_500,
        vat_withheld=47_500,
        total=250_000,
        taxes=(ParsedTax(code=15, name="IVA retenido total", rate=Decimal(19), amount=Decimal(47_500), withheld=True),),
    )
    document = record(xml_attachment(mailbox), purchase)

    assert (document.net, document.vat, document.vat_withheld, document.total) == (250_000, 47_500, 47_500, 250_000)
    assert document.other_taxes is None
    tax = DocumentTax.objects.get(document=document)
    assert (tax.code, tax.rate, tax.amount, tax.withheld) == (15, Decimal("19.00"), Decimal(47_500), True)


EXPORT = dte(
    doc_type=110,
    type_name="Factura de exportación electrónica",
    folio=52,
    vat_rate=None,
    currency="USD",
    foreign=ForeignAmounts(
        currency="USD",
        name="DOLAR USA",
        exchange_rate=Decimal("942.15"),
        exempt=Decimal("28689.40"),
        total=Decimal("28689.40"),
    ),
    exempt=27_029_718,  # OtraMoneda, in pesos
    total=27_029_718,
    lines=(
        ParsedLine(
            name="Uva de mesa Red Globe, caja 8,2 kg",
            quantity="1450",
            unit_price="19.786",
            amount=Decimal("28689.70"),
            number=1,
            unit="CJ",
            exemption_code=1,
        ),
    ),
    discounts=(ParsedDiscount(line=1, surcharge=False, description="Ajuste", percent=False, value=Decimal("0.30")),),
)


def test_export_invoice_in_dollars_keeps_its_own_amounts_and_pesos(mailbox):
    document = record(xml_attachment(mailbox), EXPORT)

    assert (document.currency, document.foreign_currency, document.foreign_currency_name) == ("USD", "USD", "DOLAR USA")
    assert (document.exchange_rate, document.foreign_exempt, document.foreign_total) == (
        Decimal("942.15"),
        Decimal("28689.40"),
        Decimal("28689.40"),
    )
    assert (document.foreign_net, document.foreign_vat, document.vat_rate) == (None, None, None)
    assert (document.exempt, document.total) == (27_029_718, 27_029_718)
    assert document.adds_up is True
    line = DocumentLine.objects.get(document=document)
    assert (line.quantity, line.unit_price, line.amount) == (Decimal(1450), Decimal("19.786"), Decimal("28689.70"))
    assert DocumentDiscount.objects.get(document=document).value == Decimal("0.30")


def test_global_and_line_discounts(mailbox):
    discounted = dte(
        folio=905,
        net=78_000,
        vat=14_820,
        total=92_820,
        lines=(
            ParsedLine(
                name="Café de grano 1 kg",
                quantity="5",
                unit_price="12990",
                discount_percent=Decimal(10),
                discount_amount=Decimal(6495),
                amount=Decimal(58_455),
                number=1,
            ),
            ParsedLine(
                name="Filtros de papel",
                quantity="3",
                unit_price="13850",
                surcharge_amount=Decimal(3),
                amount=Decimal(41_553),
                number=2,
            ),
            ParsedLine(name="Despacho", amount=Decimal(-8), number=3, exemption_code=5),
        ),
        discounts=(
            ParsedDiscount(
                line=1,
                surcharge=False,
                description="Descuento cliente frecuente",
                percent=True,
                value=Decimal(22),
                amount=Decimal(22_000),
            ),
        ),
    )
    document = record(xml_attachment(mailbox), discounted)

    discount = DocumentDiscount.objects.get(document=document)
    assert (discount.line, discount.surcharge, discount.percent, discount.value, discount.amount) == (
        1,
        False,
        True,
        Decimal(22),
        Decimal(22_000),
    )
    assert discount.description == "Descuento cliente frecuente"
    assert list(
        DocumentLine.objects.filter(document=document).values_list(
            "number", "discount_percent", "discount_amount", "surcharge_amount", "amount", "exemption_code"
        )
    ) == [
        (1, Decimal(10), Decimal(6495), None, Decimal(58_455), None),
        (2, None, None, Decimal(3), Decimal(41_553), None),
        (3, None, None, None, Decimal(-8), 5),
    ]
    assert document.line_count == 3


def test_internal_transfer_guide_has_nothing_to_add_up(mailbox):
    guide = dte(
        doc_type=52,
        type_name="Guía de despacho electrónica",
        folio=1201,
        transfer_kind=5,
        lines=(ParsedLine(name="Pallets de café a bodega Quilicura", quantity="4", number=1),),
    )
    document = record(xml_attachment(mailbox), guide)

    assert document.transfer_kind == Document.TransferKind.INTERNAL
    assert (document.total, document.adds_up, document.arithmetic_problems) == (None, None, "")
    line = DocumentLine.objects.get(document=document)
    assert (line.quantity, line.unit_price, line.amount) == (Decimal(4), None, None)


def test_one_that_does_not_add_up_says_where_and_by_how_much(mailbox):
    wrong = dataclasses.replace(
        DIESEL,
        folio=8124,
        taxes=(),
        other_taxes=None,
        discrepancies=(
            Discrepancy("line 1", stated=Decimal(1760), expected=Decimal(1795)),
            Discrepancy("total", stated=Decimal(2465), expected=Decimal(2094)),
        ),
    )
    document = record(xml_attachment(mailbox), wrong)

    assert document.adds_up is False
    assert document.arithmetic_problems.splitlines() == [
        "line 1: stated 1.760, its parts add to 1.795 (difference -35)",
        "total: stated 2.465, its parts add to 2.094 (difference 371)",
    ]
    assert document.total_difference == 371


def test_a_dollar_total_that_does_not_add_up_is_off_by_its_pesos(mailbox):
    wrong = dataclasses.replace(
        EXPORT, discrepancies=(Discrepancy("total", stated=Decimal("28689.40"), expected=Decimal("28689.00")),)
    )
    document = record(xml_attachment(mailbox), wrong)

    assert document.arithmetic_problems == "total (USD): stated 28.689,40, its parts add to 28.689,00 (difference 0,40)"
    assert document.total_difference == 377  # 0.40 x 942.15 = 376.86
    assert document.adds_up is False


def test_values_no_column_holds_are_clipped_or_left_blank(mailbox):
    absurd = dte(
        folio=999,
        issuer_name="Proveedora " * 40,
        net=10**19,  # wider than a bigint
        total=2465,
        vat_rate=Decimal("123456"),
        foreign=ForeignAmounts(
            currency="EURO", name="EURO " * 20, exchange_rate=Decimal("NaN"), total=Decimal("1E+30")
        ),
        lines=(
            ParsedLine(name="x" * 500, quantity="1.1234567", unit_price="Infinity", amount=Decimal("1E+19"), number=1),
            ParsedLine(name="Repetida", number=1, exemption_code=70_000),
        ),
        taxes=(ParsedTax(code=70_000, name="?", rate=Decimal("1E+9"), amount=Decimal(1), withheld=False),),
        discounts=(ParsedDiscount(line=1, surcharge=True, description="", percent=False, value=Decimal("1E+25")),),
        payments=(ParsedPayment(due=None, amount=Decimal("0.123456"), note="n" * 300),),
    )
    document = document_record(attachment=xml_attachment(mailbox), parsed=absurd)

    assert document.issuer_name == ("Proveedora " * 40)[:200]
    assert (document.net, document.total, document.vat_rate) == (None, 2465, None)
    assert (document.foreign_currency, document.foreign_currency_name) == ("EUR", ("EURO " * 20)[:40])
    assert (document.exchange_rate, document.foreign_total) == (None, None)
    # Two lines numbered 1: numbered in order, as the rows are unique per number.
    assert list(
        DocumentLine.objects.filter(document=document).values_list(
            "number", "name", "quantity", "unit_price", "amount", "exemption_code"
        )
    ) == [(1, "x" * 200, Decimal("1.123457"), None, None, None), (2, "Repetida", None, None, None, None)]
    assert not DocumentTax.objects.filter(document=document).exists()  # TipoImp 70000 is no tax code
    assert not DocumentDiscount.objects.filter(document=document).exists()
    payment = DocumentPayment.objects.get(document=document)
    assert (payment.amount, payment.note) == (Decimal("0.1235"), "n" * 200)


def test_recording_again_gives_the_same_rows_and_a_changed_xml_replaces_them(mailbox):
    attachment = xml_attachment(mailbox)
    document = record(attachment, DIESEL)
    before = rows(document)

    xml_attachment_reset(attachment_ids=[attachment.pk])
    record(attachment, DIESEL)
    assert rows(document) == before  # the same rows, ids and all
    assert all(before[model.__name__] for model in (DocumentLine, DocumentTax, DocumentPayment))

    fewer = dataclasses.replace(DIESEL, taxes=(), payments=DIESEL.payments[:1], lines=DIESEL.lines * 2)
    xml_attachment_reset(attachment_ids=[attachment.pk])
    record(attachment, fewer)
    assert DocumentTax.objects.filter(document=document).count() == 0
    assert list(DocumentPayment.objects.filter(document=document).values_list("number", "amount")) == [
        (1, Decimal(1232))
    ]
    # Both lines say NroLinDet 1: numbered 1 and 2, in their order.
    assert list(DocumentLine.objects.filter(document=document).values_list("number", "name")) == [
        (1, "Petróleo diésel"),
        (2, "Petróleo diésel"),
    ]
    assert Document.objects.get(pk=document.pk).line_count == 2


def test_the_same_dte_in_another_email_does_not_change_its_rows(mailbox):
    document = record(xml_attachment(mailbox), DIESEL)
    before = rows(document)

    record(xml_attachment(mailbox), dataclasses.replace(DIESEL, lines=(), taxes=(), payments=()))

    assert rows(document) == before
    assert document.sources.count() == 2


def test_a_thousand_lines_cost_a_handful_of_queries(mailbox):
    lines = tuple(
        ParsedLine(name=f"Repuesto {n}", quantity="1", unit_price="1000", amount=Decimal(1000), number=n)
        for n in range(1, 1001)
    )
    long = dte(folio=7001, net=1_000_000, vat=190_000, total=1_190_000, lines=lines, taxes=DIESEL.taxes)
    attachment = xml_attachment(mailbox)

    with CaptureQueriesContext(connection) as first:
        document = document_record(attachment=attachment, parsed=long)
    with CaptureQueriesContext(connection) as again:
        document_record(attachment=attachment, parsed=long)

    assert DocumentLine.objects.filter(document=document).count() == 1000
    # About 26 queries (the copy and its choice, the claim deadline, answers and cesiones linked), and 16
    # inserts of lines: SQLite takes 999 parameters a statement, a line has 15. None of it grows per line.
    assert len(first) <= 45, [q["sql"][:80] for q in first.captured_queries]
    assert len(again) <= 20, [q["sql"][:80] for q in again.captured_queries]
    money_writes = [
        q["sql"]
        for q in again.captured_queries
        if q["sql"].startswith(("INSERT", "DELETE")) and any(model._meta.db_table in q["sql"] for model in ROWS)
    ]
    assert not money_writes  # unchanged: left alone


def test_a_real_envelope_processed_twice_records_its_lines_once(mailbox):
    attachment = xml_attachment(mailbox, dte_files.three_dte_envelope())

    xml_attachment_process(attachment=attachment)
    invoice = Document.objects.get(folio=501)
    before = rows(invoice)
    xml_attachment_reset(attachment_ids=[attachment.pk])
    xml_attachment_process(attachment=Attachment.objects.get(pk=attachment.pk))

    assert list(DocumentLine.objects.filter(document=invoice).values_list("number", "name", "quantity", "amount")) == [
        (1, "Café de grano Ñuñoa 1 kg", Decimal(3), Decimal(38_970)),
        (2, "Señalética de emergencia", Decimal(2), Decimal(16_900)),
    ]
    assert rows(invoice) == before
    assert Document.objects.get(folio=77).lines.get().name == "Devolución café"
