"""The Document pages tell an accountant what a DTE's money is and what the filtered list adds up to:
the totals bar over the list (credit notes subtract, guides and other currencies said apart), the
filters, and the detail page's amounts, lines, taxes, discounts, instalments, warnings and cesiones;
a clerk of one mailbox sees none of another's in any of them."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from tests.support.mailbox_pair import clerk_of
from webapp.documents.models import (
    Document,
    DocumentAssignment,
    DocumentDiscount,
    DocumentLine,
    DocumentPayment,
    DocumentSource,
    DocumentTax,
)
from webapp.inbox.models import Attachment, Mailbox, MailMessage

pytestmark = pytest.mark.django_db

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-CL,es;q=0.9"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}
LIST = "admin:documents_document_changelist"


def _attachment(mailbox: Mailbox, name: str) -> Attachment:
    message = MailMessage.objects.create(mailbox=mailbox, source_id=name, subject=name)
    return Attachment.objects.create(
        message=message, position=0, original_filename=name, filename=name, status=Attachment.Status.STORED
    )


def _document(xml: Attachment, doc_type: int, folio: int, **fields) -> Document:
    defaults = {"issuer_rut": "76086428-5", "issuer_name": "Proveedora Austral SpA", "type_name": ""}
    document = Document.objects.create(doc_type=doc_type, folio=folio, **(defaults | fields))
    DocumentSource.objects.create(document=document, attachment=xml)
    return document


class Books:
    """Norte's month (an invoice, a credit note, a guide, an invoice in dollars) and sur's debit note."""

    def __init__(self) -> None:
        self.norte = Mailbox.objects.create(name="norte")
        self.sur = Mailbox.objects.create(name="sur")
        norte_xml, sur_xml = _attachment(self.norte, "norte.xml"), _attachment(self.sur, "sur.xml")
        self.invoice = _document(
            norte_xml,
            33,
            1,
            issue_date=dt.date(2026, 11, 2),
            net=100_000,
            vat=19_000,
            vat_rate=Decimal("19.00"),
            other_taxes=1_000,
            total=120_000,
            payment_form=Document.PaymentForm.CREDIT,
            due_date=dt.date(2026, 12, 31),
            adds_up=True,
            line_count=2,
        )
        self.note = _document(
            norte_xml, 61, 2, issue_date=dt.date(2026, 11, 3), net=10_000, vat=1_900, total=11_900, adds_up=True
        )
        self.guide = _document(
            norte_xml, 52, 3, issue_date=dt.date(2026, 11, 4), net=50_000, vat=9_500, total=59_500, transfer_kind=5
        )
        self.dollars = _document(
            norte_xml,
            110,
            4,
            issue_date=dt.date(2026, 11, 5),
            exempt=27_000_000,
            vat=0,
            total=27_000_000,
            currency="USD",
            foreign_currency="USD",
            foreign_currency_name="DOLAR USA",
            exchange_rate=Decimal("941.120000"),
            foreign_exempt=Decimal("28689.40"),
            foreign_total=Decimal("28689.40"),
            adds_up=False,
            arithmetic_problems="Line 2: 3 x 10,00 is not 31,00",
            total_difference=941,
        )
        self.secret = _document(
            sur_xml,
            56,
            9,
            issuer_rut="77777777-7",
            issuer_name="Comercial Sur Secreta Ltda",
            net=5_000_000,
            vat=950_000,
            total=5_950_000,
            payment_form=Document.PaymentForm.CASH,
            due_date=dt.date(2027, 1, 15),
        )
        DocumentLine.objects.create(
            document=self.invoice,
            number=1,
            code="ACE-01",
            name="Aceite de oliva extra virgen 5 L",
            description="Caja de 4 bidones",
            quantity=Decimal("2"),
            unit="CJ",
            unit_price=Decimal("40000"),
            discount_percent=Decimal("5"),
            discount_amount=Decimal("4000"),
            amount=Decimal("76000"),
        )
        DocumentLine.objects.create(
            document=self.invoice, number=2, name="Flete a Chillán", amount=Decimal("24000"), exemption_code=1
        )
        DocumentTax.objects.create(
            document=self.invoice, code=27, name="Bebidas analcohólicas", rate=Decimal("10"), amount=Decimal("1000")
        )
        DocumentDiscount.objects.create(
            document=self.invoice, line=1, description="Pronto pago", percent=True, value=Decimal("2.5")
        )
        DocumentPayment.objects.create(document=self.invoice, number=1, due=dt.date(2026, 12, 1), amount=60_000)
        DocumentPayment.objects.create(document=self.invoice, number=2, due=dt.date(2026, 12, 31), amount=60_000)
        for sequence, mailbox, name in ((1, self.norte, "Factoring Uno SpA"), (2, self.sur, "Factoring Secreto")):
            DocumentAssignment.objects.create(
                attachment=_attachment(mailbox, f"aec-{sequence}.xml"),
                document=self.invoice,
                issuer_rut=self.invoice.issuer_rut,
                doc_type=33,
                folio=1,
                sequence=sequence,
                assignee_name=name,
                assignee_rut=f"7600000{sequence}-{'K' if sequence == 1 else '8'}",
                amount=120_000,
                assigned_at=dt.datetime(2026, 11, 10 + sequence, 12, 0, tzinfo=dt.UTC),
            )
        self.clerk = clerk_of(self.norte)


@pytest.fixture
def books() -> Books:
    return Books()


@pytest.fixture
def clerk(client, books):
    client.force_login(books.clerk)
    return client


def _bar(page: str) -> str:
    match = re.search(r'<div id="totals-bar".*?</div>', page, re.DOTALL)
    assert match, "the list has its totals bar"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0)))
