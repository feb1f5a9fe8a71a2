"""Hostile values in the Document list's filters, typed or put in the URL (the exports take the same
query string): none may answer an error page; a value that is no number is not a bound, and one too
big to be an amount is past every amount."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipeline import samples
from webapp.documents.models import Document
from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db

PAGES = (
    "admin:documents_document_changelist",
    "admin:documents_document_export_csv",
    "admin:documents_document_export_xlsx",
)
#: "²" and "٣" are digits to str.isdigit(); int() refuses the first, reads the second.
HOSTILE = (
    {"total_from": "²"},
    {"total_to": "1²"},
    {"total_from": "9" * 5000},  # over int()'s 4300 digits
    {"total_from": "1e400"},
    {"total_to": "NaN"},
    {"doc_type": "²"},
    {"doc_type": "9" * 5000},
    {"doc_type": "٣٣"},
    {"issue_date_from": "9999-99-99"},
    {"received_to": "0001-01-01"},
)


@pytest.fixture
def listed(admin_client):
    mailbox = Mailbox.objects.create(name="norte", settings={"path": "/nowhere"})
    Document.objects.create(
        mailbox=mailbox, doc_type=33, folio=7, issuer_rut=samples.DEFAULT_ISSUER_RUT, receiver_rut="1-9", total=1190
    )

    def rows(**params) -> list[int]:
        response = admin_client.get(reverse(PAGES[0]), params)
        assert response.status_code == 200
        return [document.folio for document in response.context["cl"].result_list]

    return rows


@pytest.mark.parametrize("params", HOSTILE, ids=lambda p: f"{next(iter(p))}={next(iter(p.values()))[:12]}")
def test_no_hostile_filter_value_breaks_the_list_or_its_exports(admin_client, listed, params):
    for page in PAGES:
        response = admin_client.get(reverse(page), params)
        assert response.status_code == 200, f"{page} with {params} answered {response.status_code}"


def test_a_bound_that_is_no_number_is_no_bound_and_a_huge_one_is_past_every_amount(listed):
    assert listed(total_from="²") == [7] and listed(doc_type="²") == [7]
    assert listed(total_from="9" * 5000) == [] and listed(total_to="9" * 5000) == [7]
    assert listed(total_from="1.190") == [7] and listed(total_from="1.191") == []
    assert listed(doc_type="9" * 5000) == [] and listed(doc_type="٣٤") == [7]  # not read as 34: no bound


def test_a_forged_dte_under_a_suppliers_rut_does_not_rename_it_in_the_issuer_suggestions(admin_client):
    """Anyone may mail a DTE naming a supplier's RUT; its timbre does not verify. The datalist named the RUT
    by the greatest name of its documents, so "ZZ Pague a la cuenta 123" won over the supplier's own."""
    mailbox = Mailbox.objects.create(name="norte", settings={"path": "/nowhere"})
    rut = samples.DEFAULT_ISSUER_RUT
    for folio, name, ted in ((1, "Proveedora Austral SpA", "valid"), (2, "ZZ Pague a la cuenta 123", "invalid")):
        Document.objects.create(
            mailbox=mailbox, doc_type=33, folio=folio, issuer_rut=rut, issuer_name=name, receiver_rut="1-9", ted=ted
        )
    response = admin_client.get(reverse(PAGES[0]))
    (issuer,) = [
        spec for spec in response.context["cl"].filter_specs if getattr(spec, "parameter_name", "") == "issuer"
    ]
    assert issuer.lookup_choices == [(rut, "Proveedora Austral SpA")]


def test_an_issuer_typed_as_punctuation_filters_by_name_not_nothing(listed):
    """ "." reads as no RUT at all; the filter then was Q() (an `if` binding looser than `|`): every document."""
    assert listed(issuer=".") == [] and listed(issuer="..") == []
