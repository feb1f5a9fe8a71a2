"""The Document list's date hierarchy reads its range from the totals' own pass and its years, months
and days natively on SQLite: it still offers exactly the dates of the listed documents, at each level."""

from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from webapp.documents.models import Document
from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db

ISSUED = [dt.date(2025, 12, 30), dt.date(2026, 1, 5), dt.date(2026, 3, 2), dt.date(2026, 3, 17)]


@pytest.fixture
def documents() -> list[Document]:
    mailbox = Mailbox.objects.create(name="suppliers", settings={"path": "/tmp/none"})
    return [
        Document.objects.create(
            mailbox=mailbox, doc_type=33, folio=n, issue_date=day, issuer_rut="76086428-5", issuer_name=f"P {n}"
        )
        for n, day in enumerate(ISSUED, start=1)
    ]


def _offered(admin_client, query: dict) -> list[tuple[int, ...]]:
    """The date hierarchy's choices (its back link aside), each as the (year, month, day) it sets."""
    page = admin_client.get(reverse("admin:documents_document_changelist"), query).content.decode()
    hierarchy = re.search(r'<nav class="toplinks">.*?</nav>', page, re.S)
    assert hierarchy, "the date hierarchy is on the page"
    offered = []
    for href in re.findall(r'<a href="([^"]*)">', hierarchy[0]):  # the back link has a class: not matched
        params = parse_qs(urlsplit(html.unescape(href)).query)
        offered.append(
            tuple(
                int(params[f"issue_date__{part}"][0])
                for part in ("year", "month", "day")
                if f"issue_date__{part}" in params
            )
        )
    return sorted(offered)


def _dates_read(captured) -> list[str]:
    """The queries that read the list's distinct years, months or days (SUBSTR on SQLite, DATE_TRUNC elsewhere)."""
    return [q["sql"] for q in captured if "DISTINCT" in q["sql"] and "issue_date" in q["sql"]]


def test_the_years_of_the_list_are_offered(admin_client, documents):
    assert _offered(admin_client, {}) == [(2025,), (2026,)]


def test_a_year_offers_its_months_and_a_month_its_days(admin_client, documents):
    assert _offered(admin_client, {"issue_date__year": 2026}) == [(2026, 1), (2026, 3)]
    assert _offered(admin_client, {"issue_date__year": 2026, "issue_date__month": 3}) == [(2026, 3, 2), (2026, 3, 17)]


def test_a_search_within_one_month_starts_the_hierarchy_at_its_days(admin_client, documents):
    """The range of the searched list, not of every document: both of March's, so March's days."""
    Document.objects.filter(issue_date__month=3).update(issuer_name="Marzo SpA")
    assert _offered(admin_client, {"q": "Marzo"}) == [(2026, 3, 2), (2026, 3, 17)]


def test_the_range_comes_from_the_totals_query(admin_client, documents):
    url = reverse("admin:documents_document_changelist")
    admin_client.get(url)
    with CaptureQueriesContext(connection) as captured:
        admin_client.get(url)
    ranges = [q["sql"] for q in captured if 'MIN("documents_document"."issue_date")' in q["sql"]]
    assert len(ranges) == 1 and '"summed"' in ranges[0], ranges  # the totals' query, no second pass
    # 2025 and 2026, the first and last documents' years, are all its years: not read again
    assert not _dates_read(captured)


def test_months_apart_are_read_and_months_in_a_row_are_not(admin_client, documents):
    url = reverse("admin:documents_document_changelist")
    for query, expected, reads in (
        ({"issue_date__year": 2026}, [(2026, 1), (2026, 3)], True),  # February between: it may have some or none
        ({"issue_date__year": 2026, "issue_date__month": 3}, [(2026, 3, 2), (2026, 3, 17)], True),
        ({"issue_date__year": 2025}, [(2025, 12)], False),  # one document: its month
    ):
        admin_client.get(url, query)
        with CaptureQueriesContext(connection) as captured:
            assert _offered(admin_client, query) == expected
        read = _dates_read(captured)
        assert bool(read) == reads, (query, read)
    Document.objects.filter(issue_date=dt.date(2026, 1, 5)).update(issue_date=dt.date(2026, 2, 28))
    with CaptureQueriesContext(connection) as captured:
        assert _offered(admin_client, {"issue_date__year": 2026}) == [(2026, 2), (2026, 3)]
    assert not _dates_read(captured)
