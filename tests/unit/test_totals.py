"""The one totals function: credit notes subtract, guides stay out, dollars count in pesos."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pipeline.dte.formatting import money
from webapp.documents.models import Document
from webapp.documents.totals import document_totals
from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db


def _document(doc_type: int, folio: int, *, net: int | None, vat: int, total: int | None, **fields) -> Document:
    mailbox, _ = Mailbox.objects.get_or_create(name="suppliers", defaults={"settings": {"path": "/tmp/none"}})
    return Document.objects.create(
        mailbox=mailbox,
        doc_type=doc_type,
        folio=folio,
        issuer_rut="76086428-5",
        type_name="",
        net=net,
        vat=vat,
        total=total,
        **fields,
    )


def test_a_mixed_month_sums_with_each_kinds_sign_in_pesos():
    _document(33, 1, net=100_000, vat=19_000, total=119_000)
    _document(61, 2, net=10_000, vat=1_900, total=11_900)
    _document(56, 3, net=1_000, vat=190, total=1_190)
    _document(52, 4, net=100_000, vat=19_000, total=119_000)
    _document(33, 5, net=1_000, vat=190, total=1_250, other_taxes=60)
    _document(
        110,
        6,
        net=None,
        vat=0,
        total=27_000_000,
        exempt=27_000_000,
        foreign_currency="USD",
        foreign_total=Decimal("28689.40"),
    )
    _document(
        112, 7, net=None, vat=0, total=900_000, exempt=900_000, foreign_currency="USD", foreign_total=Decimal("950.00")
    )

    totals = document_totals(Document.objects.all())

    assert (totals.count, totals.summed, totals.guides) == (7, 6, 1)
    assert totals.net == 100_000 - 10_000 + 1_000 + 1_000
    assert totals.vat == 19_000 - 1_900 + 190 + 190
    assert totals.other_taxes == 60
    assert totals.exempt == 27_000_000 - 900_000
    assert totals.total == 119_000 - 11_900 + 1_190 + 1_250 + 27_000_000 - 900_000
    assert totals.foreign == {"USD": Decimal("27739.40")}


def test_guides_are_summed_only_when_asked_and_unknown_totals_are_counted_apart():
    _document(52, 1, net=100, vat=19, total=119)
    _document(33, 2, net=None, vat=0, total=None)
    totals = document_totals(Document.objects.all(), include_guides=True)
    assert (totals.summed, totals.guides, totals.total, totals.without_total) == (2, 0, 119, 1)
    assert document_totals(Document.objects.all()).total == 0


def test_an_empty_list_adds_up_to_zero():
    totals = document_totals(Document.objects.none())
    assert (totals.count, totals.total, totals.foreign) == (0, 0, {})


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (1_234_567, "CLP", "$1.234.567"),
        (Decimal("-11900"), "CLP", "-$11.900"),
        (Decimal("28689.4000"), "USD", "US$ 28.689,40"),
        (Decimal("950"), "CHF", "CHF 950,00"),
        (Decimal("12.3456"), "EUR", "€ 12,3456"),
        (None, "USD", "-"),
    ],
)
def test_amounts_are_written_as_in_chile_in_their_currency(amount, currency, shown):
    assert money(amount, currency) == shown


def test_a_list_in_pesos_only_is_totalled_in_one_query(django_assert_num_queries):
    _document(33, 1, net=100_000, vat=19_000, total=119_000)
    _document(61, 2, net=10_000, vat=1_900, total=11_900)
    with django_assert_num_queries(1):  # no second pass over the list for currencies it has none of
        totals = document_totals(Document.objects.all())
    assert (totals.count, totals.total, totals.foreign) == (2, 107_100, {})


def _a_peso_invoice_and_two_dollar_documents() -> None:
    """An invoice in pesos (2026-03-09), a credit note and an export invoice in dollars (the latter 2025-12-01)."""
    _document(33, 1, net=100_000, vat=19_000, total=119_000, issue_date=dt.date(2026, 3, 9))
    _document(
        61, 2, net=None, vat=0, total=950_000, exempt=950_000, foreign_currency="USD", foreign_total=Decimal("1000.10")
    )
    _document(
        110,
        3,
        net=None,
        vat=0,
        total=27_000_000,
        exempt=27_000_000,
        foreign_currency="USD",
        foreign_total=Decimal("28689.40"),
        issue_date=dt.date(2025, 12, 1),
    )


def test_a_list_in_dollars_is_totalled_in_one_query_with_its_dates(django_assert_num_queries):
    _a_peso_invoice_and_two_dollar_documents()
    with django_assert_num_queries(1):
        totals = document_totals(Document.objects.all())
    assert totals.foreign == {"USD": Decimal("27689.30")}
    assert money(totals.foreign["USD"], "USD") == "US$ 27.689,30"
    assert (totals.first_issued, totals.last_issued) == (dt.date(2025, 12, 1), dt.date(2026, 3, 9))


def test_a_list_in_several_currencies_is_totalled_in_two_queries(django_assert_num_queries):
    _a_peso_invoice_and_two_dollar_documents()
    _document(
        110,
        4,
        net=None,
        vat=0,
        total=1_000_000,
        exempt=1_000_000,
        foreign_currency="EUR",
        foreign_total=Decimal("12.3456"),
    )
    _document(
        52,
        5,
        net=None,
        vat=0,
        total=5_000,
        exempt=5_000,
        foreign_currency="CHF",
        foreign_total=Decimal("5"),
        issue_date=dt.date(2026, 4, 1),
    )
    with django_assert_num_queries(2):  # the second groups the foreign documents by currency
        totals = document_totals(Document.objects.all())
    assert (totals.count, totals.summed, totals.guides) == (5, 4, 1)
    assert totals.exempt == -950_000 + 27_000_000 + 1_000_000
    assert totals.total == 119_000 - 950_000 + 27_000_000 + 1_000_000
    assert totals.foreign == {"EUR": Decimal("12.3456"), "USD": Decimal("27689.30")}  # the guide's francs left out
    assert list(totals.foreign) == ["EUR", "USD"]
    assert [money(amount, code) for code, amount in totals.foreign.items()] == ["€ 12,3456", "US$ 27.689,30"]
    assert (totals.first_issued, totals.last_issued) == (dt.date(2025, 12, 1), dt.date(2026, 4, 1))
