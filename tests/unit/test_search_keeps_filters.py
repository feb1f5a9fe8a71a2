"""A search by folio or RUT stays inside the filters the list has on (month, type, mailbox...):
its matches were taken from all the user's rows, so a month's list searched for a folio that
another month has too listed and totalled both."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from tests.support.mailbox_pair import clerk_of
from webapp.documents.models import Document, DocumentResponse
from webapp.inbox.models import Attachment, Blob, Mailbox, MailMessage
from webapp.register.models import RcvEntry

pytestmark = pytest.mark.django_db

RUT = "76086428-5"
OTHER_RUT = "96790240-3"
#: A folio and RUT searches as a person types them: the folio, the RUT with dots, without its check digit.
QUERIES = ("4521", "76.086.428-5", "76086428")

_serial = itertools.count()


@pytest.fixture
def norte() -> Mailbox:
    return Mailbox.objects.create(name="norte", settings={"path": "/tmp/none"})


@pytest.fixture
def sur() -> Mailbox:
    return Mailbox.objects.create(name="sur", settings={"path": "/tmp/none"})


def _document(mailbox: Mailbox, *, issued: dt.date, doc_type: int = 33, total: int = 119_000) -> Document:
    return Document.objects.create(
        mailbox=mailbox,
        doc_type=doc_type,
        type_name="",
        folio=4521,
        issue_date=issued,
        issuer_rut=RUT,
        issuer_name="Proveedor Uno",
        total=total,
    )


def _listed(client: Client, name: str, query: dict) -> list:
    response = client.get(reverse(f"admin:{name}_changelist"), query)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.mark.parametrize("q", QUERIES)
def test_a_month_searched_for_a_folio_or_rut_lists_and_totals_that_month_only(admin_client, norte, q):
    may = _document(norte, issued=dt.date(2024, 5, 14), total=119_000)
    _document(norte, issued=dt.date(2024, 6, 3), doc_type=34, total=2_380_000)
    url = reverse("admin:documents_document_changelist")
    response = admin_client.get(url, {"issue_date__year": 2024, "issue_date__month": 5, "q": q})
    assert list(response.context["cl"].result_list) == [may]
    totals = response.context["totals_bar"].totals
    assert (totals.count, totals.total) == (1, 119_000)
    page = response.content.decode()
    assert "119.000" in page and "2.499.000" not in page and "2.380.000" not in page


@pytest.mark.parametrize("q", QUERIES)
def test_a_type_searched_for_a_folio_or_rut_lists_that_type_only(admin_client, norte, q):
    factura = _document(norte, issued=dt.date(2024, 5, 14), doc_type=33)
    note = _document(norte, issued=dt.date(2024, 5, 14), doc_type=61)
    assert _listed(admin_client, "documents_document", {"doc_type": 33, "q": q}) == [factura]
    assert _listed(admin_client, "documents_document", {"kind": "credit_note", "q": q}) == [note]


def test_a_mailbox_searched_for_a_folio_lists_that_mailbox_only(admin_client, norte, sur):
    ours = _document(norte, issued=dt.date(2024, 5, 14))
    _document(sur, issued=dt.date(2024, 5, 14))
    assert _listed(admin_client, "documents_document", {"mailbox__id__exact": norte.pk, "q": "4521"}) == [ours]


def test_a_name_search_and_a_folio_search_still_add_up(admin_client, norte):
    """A term that is a name and a folio at once: the rows of either kind, inside the filter."""
    may = _document(norte, issued=dt.date(2024, 5, 14))
    named = Document.objects.create(
        mailbox=norte, doc_type=33, folio=7, issue_date=dt.date(2024, 5, 20), issuer_name="Ferretería 4521", total=1
    )
    Document.objects.create(
        mailbox=norte, doc_type=33, folio=8, issue_date=dt.date(2024, 6, 20), issuer_name="Ferretería 4521", total=1
    )
    _document(norte, issued=dt.date(2024, 6, 3), doc_type=34)
    found = _listed(admin_client, "documents_document", {"issue_date__year": 2024, "issue_date__month": 5, "q": "4521"})
    assert sorted(found, key=lambda d: d.pk) == [may, named]


@pytest.mark.parametrize("query", [{"issue_date__year": 2024, "issue_date__month": 5}, {"doc_type": 33}, {}])
def test_a_clerk_never_reaches_another_mailbox_by_search_and_filter(norte, sur, query):
    ours = _document(norte, issued=dt.date(2024, 5, 14))
    _document(norte, issued=dt.date(2024, 6, 3), doc_type=34)
    _document(sur, issued=dt.date(2024, 5, 14))
    _document(sur, issued=dt.date(2024, 6, 3), doc_type=34)
    clerk = Client()
    clerk.force_login(clerk_of(norte))
    for q in QUERIES:
        found = _listed(clerk, "documents_document", {**query, "q": q})
        assert {document.mailbox_id for document in found} == {norte.pk}, (query, q)
        if query:
            assert found == [ours], (query, q)
        # sur's mailbox named in the query string: still nothing of sur (a clerk of one mailbox has no
        # mailbox filter, so Django drops the parameter and lists what the query without it lists)
        named = _listed(clerk, "documents_document", {**query, "mailbox__id__exact": sur.pk, "q": q})
        assert named == found, (query, q)


def _entry(mailbox: Mailbox, *, period: str, doc_type: int = 33) -> RcvEntry:
    """The register's key is the receiver's, issuer's, type and folio: each period's entry is of another receiver."""
    return RcvEntry.objects.create(
        mailbox=mailbox,
        receiver_rut=f"{period}-receiver",
        period=period,
        register="registro",
        issuer_rut=RUT,
        doc_type=doc_type,
        folio=4521,
        total=119_000,
    )


@pytest.mark.parametrize("q", QUERIES)
def test_the_register_searched_for_a_folio_or_rut_keeps_its_period_and_type(admin_client, norte, q):
    may = _entry(norte, period="2024-05")
    _entry(norte, period="2024-06")
    _entry(norte, period="2024-05", doc_type=34)
    assert _listed(admin_client, "register_rcventry", {"period": "2024-05", "doc_type": 33, "q": q}) == [may]


def test_a_clerk_searching_the_register_stays_in_their_mailbox_and_filter(norte, sur):
    ours = _entry(norte, period="2024-05")
    _entry(norte, period="2024-06")
    _entry(sur, period="2024-05")
    user = clerk_of(norte)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="register"))
    clerk = Client()
    clerk.force_login(User.objects.get(pk=user.pk))
    for q in QUERIES:
        assert _listed(clerk, "register_rcventry", {"period": "2024-05", "q": q}) == [ours], q


def _response(mailbox: Mailbox, *, kind: str, doc_type: int = 33, status_code: int | None = 0) -> DocumentResponse:
    n = next(_serial)
    message = MailMessage.objects.create(mailbox=mailbox, source_id=f"r-{n}", subject=f"Respuesta {n}")
    blob = Blob.objects.create(sha256=f"{n:064d}", size=1, storage_name=f"b/{n}")
    attachment = Attachment.objects.create(
        message=message, position=0, original_filename=f"{n}.xml", filename=f"{n}.xml", blob=blob
    )
    return DocumentResponse.objects.create(
        attachment=attachment,
        kind=kind,
        issuer_rut=RUT,
        receiver_rut=OTHER_RUT,
        responder_rut=OTHER_RUT,
        doc_type=doc_type,
        folio=4521,
        status_code=status_code,
    )


@pytest.mark.parametrize("q", ["4521", "76.086.428-5"])
def test_the_answers_searched_for_a_folio_or_rut_keep_their_kind_and_status(admin_client, norte, q):
    result = _response(norte, kind=DocumentResponse.Kind.RESULT)
    _response(norte, kind=DocumentResponse.Kind.RECEPTION)
    _response(norte, kind=DocumentResponse.Kind.RESULT, status_code=2)
    assert _listed(admin_client, "documents_documentresponse", {"kind": "result", "outcome": "accepted", "q": q}) == [
        result
    ]


def test_a_clerk_searching_the_answers_stays_in_their_mailbox_and_filter(norte, sur):
    ours = _response(norte, kind=DocumentResponse.Kind.RESULT)
    _response(norte, kind=DocumentResponse.Kind.RECEPTION)
    _response(sur, kind=DocumentResponse.Kind.RESULT)
    clerk = Client()
    clerk.force_login(clerk_of(norte))
    for q in ("4521", "76.086.428-5"):
        assert _listed(clerk, "documents_documentresponse", {"kind": "result", "q": q}) == [ours], q
