"""The decision page (`<pk>/decision/`) attacked: an anonymous visitor, a forged cross-site POST, a clerk
of another mailbox, a holder of the decide permission who may not even view documents, and a reason
written to run in the page that shows the history."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from pipeline import samples
from tests.support.mailbox_pair import clerk_of
from webapp.documents.models import Document, DocumentDecision
from webapp.inbox.models import Mailbox, MailboxAccess

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("motivo")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def factura() -> Document:
    norte = Mailbox.objects.create(name="norte", settings={"path": "/nowhere"})
    return Document.objects.create(
        mailbox=norte,
        doc_type=33,
        type_name="Factura electrónica",
        folio=77,
        issuer_rut=samples.DEFAULT_ISSUER_RUT,
        issuer_name='Proveedora "><b>negrita</b>',
        receiver_rut=samples.DEFAULT_RECEIVER_RUT,
        claim_deadline=timezone.now() + dt.timedelta(days=5),
    )


def _decide(factura: Document) -> str:
    return reverse("admin:documents_document_decision", args=[factura.pk])


def test_an_anonymous_visitor_is_sent_to_log_in_and_records_nothing(factura):
    anonymous = Client()
    for response in (anonymous.get(_decide(factura)), anonymous.post(_decide(factura), {"code": "ACD"})):
        assert response.status_code == 302 and reverse("admin:login") in response["Location"]
    assert not DocumentDecision.objects.exists()


def test_a_cross_site_post_without_the_csrf_token_records_nothing(factura):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(clerk_of(factura.mailbox))
    assert browser.post(_decide(factura), {"code": "RCD", "reason": "falso"}).status_code == 403
    assert not DocumentDecision.objects.exists()


def test_the_decide_permission_alone_does_not_open_a_document_one_may_not_view(client, factura):
    decider = User.objects.create_user("decider", password="x", is_staff=True)
    decider.user_permissions.add(Permission.objects.get(codename="decide_document"))
    MailboxAccess.objects.create(mailbox=factura.mailbox, user=decider)
    client.force_login(decider)
    page = client.get(_decide(factura))
    assert page.status_code == 403, "the decision page showed a document its visitor may not view"
    assert "Proveedora" not in page.content.decode()
    assert client.post(_decide(factura), {"code": "ACD", "reason": ""}).status_code == 403
    assert not DocumentDecision.objects.exists()


def test_a_clerk_of_another_mailbox_gets_404(client, factura):
    sur = Mailbox.objects.create(name="sur", settings={"path": "/nowhere"})
    client.force_login(clerk_of(sur, "other"))
    assert client.get(_decide(factura)).status_code == 404
    assert client.post(_decide(factura), {"code": "ACD"}).status_code == 404


def test_the_reason_and_the_suppliers_name_are_shown_as_text(client, factura):
    client.force_login(clerk_of(factura.mailbox))
    page = client.get(_decide(factura)).content.decode()
    assert "<b>negrita</b>" not in page and "&lt;b&gt;negrita&lt;/b&gt;" in page
    assert client.post(_decide(factura), {"code": "RCD", "reason": SCRIPT}).status_code == 302
    page = client.get(reverse("admin:documents_document_change", args=[factura.pk])).content.decode()
    assert SCRIPT not in page and "&lt;script&gt;alert(&quot;motivo&quot;)&lt;/script&gt;" in page
    assert "<b>negrita</b>" not in page
