"""A searched Document list is paged by the ids it holds (on SQLite): its pages are the list's own, in
its order and with its filters, sorted as asked, at as many queries as an unsearched page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from webapp.documents.admin import DocumentAdmin
from webapp.documents.models import Document
from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db

PER_PAGE = DocumentAdmin.list_per_page


@pytest.fixture
def documents() -> None:
    mailbox = Mailbox.objects.create(name="suppliers", settings={"path": "/tmp/none"})
    Document.objects.bulk_create(
        Document(
            mailbox=mailbox,
            doc_type=61 if n % 7 == 0 else 33,
            folio=n,
            issue_date=dt.date(2026, 1, 1) + dt.timedelta(days=n % 40),  # many on one day: the id decides
            issuer_rut="76086428-5",
            issuer_name=f"{'Ferretería' if n % 3 else 'Panadería'} {n}",
            total=1_000 + (n * 7919) % 5_000,
        )
        for n in range(1, 2 * PER_PAGE + 30)
    )


def _pages(client, query: dict) -> list[list[int]]:
    url = reverse("admin:documents_document_changelist")
    pages, number = [], 1
    while True:
        changelist = client.get(url, {**query, "p": number}).context["cl"]
        pages.append([document.pk for document in changelist.result_list])
        if number >= changelist.paginator.num_pages:
            return pages
        number += 1


@pytest.mark.parametrize(
    ("query", "order"),
    [
        ({"q": "Ferretería"}, ("-issue_date", "-id")),
        ({"q": "Ferretería", "o": "6"}, ("total", "id")),  # sorted by the total column, ties by id the same way
        ({"q": "Ferretería", "o": "-6"}, ("-total", "-id")),
        ({"q": "Ferretería", "doc_type": "33"}, ("-issue_date", "-id")),
        ({"q": "ería 1"}, ("-issue_date", "-id")),
    ],
)
def test_each_page_of_a_search_is_the_lists_own_in_its_order(admin_client, documents, query, order):
    found = Document.objects.filter(issuer_name__icontains=query["q"].split()[0])
    for word in query["q"].split()[1:]:
        found = found.filter(issuer_name__icontains=word)
    if "doc_type" in query:
        found = found.filter(doc_type=query["doc_type"])
    expected = list(found.order_by(*order).values_list("pk", flat=True))
    pages = _pages(admin_client, query)
    assert [pk for page in pages for pk in page] == expected
    assert all(len(page) == PER_PAGE for page in pages[:-1])


def test_a_searched_page_costs_what_an_unsearched_one_does(admin_client, documents):
    url = reverse("admin:documents_document_changelist")
    counts = []
    for query in ({}, {"q": "Ferretería"}):
        admin_client.get(url, query)
        with CaptureQueriesContext(connection) as captured:
            page = admin_client.get(url, query)
        assert len(page.context["cl"].result_list) == PER_PAGE
        assert page.context["cl"].paginator.by_ids == (bool(query) and connection.vendor == "sqlite")
        counts.append(len(captured))
    assert counts[1] <= counts[0]


@pytest.mark.parametrize(
    ("column", "field"), [("2", "doc_type"), ("3", "folio"), ("4", "issuer_name"), ("5", "issue_date"), ("6", "total")]
)
def test_a_sorted_list_breaks_its_ties_by_id_the_same_way(admin_client, documents, column, field):
    """Each way is then one index read forwards or backwards, not a sort of the list (`folio, -id`)."""
    url = reverse("admin:documents_document_changelist")
    for sign, tie in (("", "pk"), ("-", "-pk")):
        changelist = admin_client.get(url, {"o": f"{sign}{column}"}).context["cl"]
        ordering = list(changelist.queryset.query.order_by)
        assert ordering == [f"{sign}{field}", tie]
        expected = list(Document.objects.order_by(f"{sign}{field}", tie).values_list("pk", flat=True)[:PER_PAGE])
        assert [document.pk for document in changelist.result_list] == expected
