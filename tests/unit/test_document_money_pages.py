"""The Document pages tell an accountant what a DTE's money is and what the filtered list adds up to:
the totals bar over the list (credit notes subtract, guides and other currencies said apart), the
filters, and the detail page's amounts, lines, taxes, discounts, instalments, warnings and cesiones;
a clerk of one mailbox sees none of another's in any of them."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

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
    document = Document.objects.create(
        mailbox_id=xml.message.mailbox_id, doc_type=doc_type, folio=folio, **(defaults | fields)
    )
    DocumentSource.objects.create(document=document, attachment=xml, chosen=True)
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


def _list(client, **params) -> str:
    response = client.get(reverse(LIST), params, **SPANISH)
    assert response.status_code == 200
    return response.content.decode()


def _filter(client, parameter: str):
    response = client.get(reverse(LIST), **SPANISH)
    return next(
        spec for spec in response.context["cl"].filter_specs if getattr(spec, "parameter_name", "") == parameter
    )


def test_the_totals_of_a_mixed_list_subtract_the_note_leave_out_the_guide_and_say_the_dollars(admin_client, books):
    bar = _bar(_list(admin_client, kind="invoice"))
    assert "2 documentos" in bar
    assert "Neto $100.000" in bar and "IVA $19.000" in bar and "Otros impuestos $1.000" in bar
    assert "Total $27.120.000" in bar
    assert "US$ 28.689,40 en documentos en dólares" in bar

    page = _list(admin_client)
    bar = _bar(page)
    # 120.000 - 11.900 + 27.000.000 + sur's debit note 5.950.000; the guide's 59.500 is left out
    assert "5 documentos" in bar and "Total $33.058.100" in bar
    assert "1 guía no sumada" in bar
    assert "-$11.900" in page, "the credit note's total is shown negative"
    assert "US$ 28.689,40" in page and 'title="$27.000.000"' in page, "the dollars, with the pesos on hover"


def test_the_totals_follow_the_filters_and_the_search(admin_client, books):
    assert "Total -$11.900" in _bar(_list(admin_client, kind="credit_note"))
    assert "Total $27.000.000" in _bar(_list(admin_client, currency="other"))
    assert "Total $6.058.100" in _bar(_list(admin_client, currency="clp"))
    assert "1 documento " in _bar(_list(admin_client, adds_up="no"))
    assert "Total $120.000" in _bar(_list(admin_client, payment_form=2))
    assert "Total $120.000" in _bar(_list(admin_client, assigned="yes"))
    due = _bar(_list(admin_client, due_date_from="2026-12-01", due_date_to="2026-12-31"))
    assert "1 documento " in due and "Total $120.000" in due
    assert "Total $5.950.000" in _bar(_list(admin_client, q="Secreta"))


def test_a_document_without_a_total_is_counted_apart(admin_client, books):
    Document.objects.filter(pk=books.note.pk).update(total=None)
    assert "1 sin total" in _bar(_list(admin_client))


def test_a_clerks_totals_and_filter_choices_leave_out_the_other_mailbox(clerk, books):
    page = _list(clerk)
    bar = _bar(page)
    assert "4 documentos" in bar and "Total $27.108.100" in bar
    assert "Secreta" not in page and "5.950.000" not in page
    assert [value for value, _label in _filter(clerk, "kind").lookup_choices] == ["invoice", "credit_note", "guide"]
    assert [value for value, _label in _filter(clerk, "payment_form").lookup_choices] == ["2"]
    assert [value for value, _label in _filter(clerk, "adds_up").lookup_choices] == ["yes", "no", "unknown"]
    # the debit note and the cash sale are sur's only: its id forced into the filter finds nothing of it
    assert "0 documentos" in _bar(_list(clerk, kind="debit_note"))
    assert "0 documentos" in _bar(_list(clerk, payment_form=1))


def test_the_clerk_sees_no_filter_for_what_only_the_other_mailbox_has(client, admin_client, books):
    DocumentAssignment.objects.filter(attachment__message__mailbox=books.norte).delete()
    Document.objects.filter(pk=books.dollars.pk).delete()

    def filters(user_client) -> set[str]:
        return {
            getattr(spec, "parameter_name", "") for spec in user_client.get(reverse(LIST)).context["cl"].filter_specs
        }

    assert "assigned" in filters(admin_client), "sur's AEC makes the invoice cedida for who sees sur"
    client.force_login(books.clerk)
    shown = filters(client)
    assert "kind" in shown
    assert "assigned" not in shown, "sur's cesión does not make the clerk's invoice cedida"
    assert "currency" not in shown, "the clerk has only pesos"


def test_the_detail_page_shows_the_money_lines_taxes_discounts_and_instalments(admin_client, books):
    url = reverse("admin:documents_document_change", args=[books.invoice.pk])
    page = admin_client.get(url, **SPANISH).content.decode()
    for text in (
        "Montos",
        "IVA (19 %)",
        "$19.000",
        "Bebidas analcohólicas (10 %)",
        "$120.000",
        "Aceite de oliva extra virgen 5 L",
        "Caja de 4 bidones",
        "$40.000",
        "5 % -$4.000",
        "$76.000",
        "Exento",
        "Descuentos y recargos globales",
        "Pronto pago",
        "2,5 %",
        "Otros impuestos y retenciones",
        "Cuotas",
        "01-12-2026",
        "Crédito",
        "31-12-2026",
    ):
        assert text in page, text
    assert "No cuadra" not in page


def test_a_dollar_invoice_that_does_not_add_up_says_so_at_the_top(admin_client, books):
    url = reverse("admin:documents_document_change", args=[books.dollars.pk])
    page = admin_client.get(url, **SPANISH).content.decode()
    warning = page.index("No cuadra: sus líneas, impuestos y totales no concuerdan.")
    assert warning < page.index("Montos"), "the warning comes before the amounts"
    assert "Line 2: 3 x 10,00 is not 31,00" in page and "Diferencia en el total: $941" in page
    for text in ("Moneda extranjera", "dólares (USD)", "941,12 pesos por USD", "US$ 28.689,40", "$27.000.000"):
        assert text in page, text


def test_a_guide_shows_its_transfer_kind_and_a_factura_de_compra_who_issued_it(admin_client, books):
    page = admin_client.get(reverse("admin:documents_document_change", args=[books.guide.pk]), **SPANISH)
    assert "Traslados internos" in page.content.decode() and "no se suman" in page.content.decode()
    purchase = _document(DocumentSource.objects.first().attachment, 46, 77, total=1_190)
    page = admin_client.get(reverse("admin:documents_document_change", args=[purchase.pk]), **SPANISH).content.decode()
    assert "Factura de compra: la emite el comprador" in page
    assert "Emisor (el comprador)" in page and "Receptor (el vendedor)" in page


def test_the_cesion_is_the_latest_the_user_may_see(client, admin_client, books):
    url = reverse("admin:documents_document_change", args=[books.invoice.pk])
    every = admin_client.get(url, **SPANISH).content.decode()
    assert "Cedida a Factoring Secreto (76.000.002-8) el 12-11-2026" in every
    assert "Factoring Uno SpA" in every, "the chain of cesiones"
    client.force_login(books.clerk)
    own = client.get(url, **SPANISH).content.decode()
    assert "Cedida a Factoring Uno SpA (76.000.001-K) el 11-11-2026" in own
    assert "Secreto" not in own and "aec-2.xml" not in own


def test_english_stays_complete(admin_client, books):
    page = admin_client.get(reverse(LIST), **ENGLISH).content.decode()
    assert "1 guide not added" in _bar(page) and "US$ 28.689,40 in documents in dollars" in _bar(page)
    detail = admin_client.get(reverse("admin:documents_document_change", args=[books.dollars.pk]), **ENGLISH)
    assert "Does not add up" in detail.content.decode() and "No cuadra" not in detail.content.decode()


def test_a_thousand_lines_show_the_first_and_link_to_all(admin_client, books):
    DocumentLine.objects.bulk_create(
        DocumentLine(document=books.dollars, number=n, name=f"Item {n}", amount=Decimal(1)) for n in range(1, 1001)
    )
    page = admin_client.get(reverse("admin:documents_document_change", args=[books.dollars.pk])).content.decode()
    assert "Item 50<" in page and "Item 51<" not in page
    link = re.search(r'href="([^"]*documentline[^"]*)"', page).group(1).replace("&amp;", "&")
    assert admin_client.get(link).context["cl"].result_count == 1000


def test_the_list_with_totals_and_filters_costs_few_queries(admin_client, books, django_assert_max_num_queries):
    for folio in range(100, 130):
        _document(DocumentSource.objects.first().attachment, 33, folio, total=1_000, due_date=dt.date(2026, 12, 1))
    admin_client.get(reverse(LIST))
    with django_assert_max_num_queries(25):
        response = admin_client.get(reverse(LIST))
    assert response.context["totals_bar"].totals.count == 35


def test_the_clerk_cannot_open_the_other_mailboxs_lines(clerk, books):
    DocumentLine.objects.create(document=books.secret, number=1, name="Secreto")
    response = clerk.get(reverse("admin:documents_documentline_changelist"))
    assert [line.name for line in response.context["cl"].result_list] == [
        "Aceite de oliva extra virgen 5 L",
        "Flete a Chillán",
    ]
    assert isinstance(User.objects.get(pk=books.clerk.pk), User)
