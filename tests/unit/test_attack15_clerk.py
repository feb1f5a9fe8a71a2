"""A clerk limited to `norte` tampers with the new surfaces' URLs and POSTs to reach `sur`: exports with
sur's mailbox, issuer and receiver in the query string, the ZIP action with sur's ids, the decision page,
and the dashboard's deadline counts when only sur has facturas due or overdue."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.support.mailbox_pair import SECRET, SUR_ISSUER_RUT, Pair, mailbox_pair
from webapp.documents.models import Document, DocumentDecision

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(tmp_path, redis_client) -> Pair:
    return mailbox_pair(tmp_path, redis_client)


@pytest.fixture
def clerk(pair) -> Client:
    client = Client()
    client.force_login(pair.clerk)
    return client


def _body(response) -> str:
    assert response.status_code in (200, 302), response.status_code
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode("utf-8", "replace").lower()


def test_exports_with_sur_in_the_query_string_hold_nothing_of_sur(clerk, pair):
    sur_receiver = Document.objects.filter(mailbox=pair.sur).values_list("receiver_rut", flat=True).first()
    for query in (
        {"mailbox__id__exact": pair.sur.pk},
        {"issuer": SUR_ISSUER_RUT},
        {"receiver": sur_receiver},
        {"q": "secret"},
    ):
        for name in ("documents_document", "inbox_attachment"):
            text = _body(clerk.get(reverse(f"admin:{name}_export_csv"), query))
            assert SECRET not in text, f"{name} export with {query} shows sur"
            assert SUR_ISSUER_RUT.lower() not in text


def test_the_zip_of_sur_ids_and_a_decision_on_sur_reach_nothing(clerk, pair):
    theirs = list(Document.objects.filter(mailbox=pair.sur).values_list("pk", flat=True))
    response = clerk.post(
        reverse("admin:documents_document_changelist"),
        {"action": "download_zip", "_selected_action": theirs, "index": 0},
    )
    if response.get("Content-Type") == "application/zip":  # the action ran on none of them: an empty archive
        assert zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist() == []
    else:
        assert response.status_code == 302
    factura = Document.objects.filter(mailbox=pair.sur, doc_type=33).first()
    assert (
        clerk.post(reverse("admin:documents_document_decision", args=[factura.pk]), {"code": "ACD"}).status_code == 404
    )
    assert not DocumentDecision.objects.exists()


def test_the_dashboard_counts_only_the_clerks_deadlines(clerk, admin_client, pair):
    now = timezone.now()
    Document.objects.filter(mailbox=pair.sur, doc_type=33).update(claim_deadline=now - dt.timedelta(days=3))
    Document.objects.filter(mailbox=pair.norte).update(claim_deadline=None)
    dashboard = reverse("pipeline_dashboard")
    assert "deadline=overdue" in _body(admin_client.get(dashboard)), "the premise: sur's facturas are overdue"
    assert "deadline=overdue" not in _body(clerk.get(dashboard, HTTP_ACCEPT_LANGUAGE="es-CL"))
