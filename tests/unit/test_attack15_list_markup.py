"""A supplier's name and a typed filter written to run in the Document list: the issuer datalist, the cut
names' hover text, the filter's own input and the hidden fields carrying the other filters all show
them as text."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipeline import samples
from webapp.documents.models import Document
from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db

NAME = 'Sur"><script>alert(1)</script><option value="x'
TYPED = '"><svg onload=alert(2)>'


def test_hostile_names_and_typed_values_are_text_on_the_list(admin_client):
    mailbox = Mailbox.objects.create(name='b"><i>buzón</i>', settings={"path": "/nowhere"})
    Document.objects.create(
        mailbox=mailbox,
        doc_type=33,
        folio=5,
        issuer_rut=samples.DEFAULT_ISSUER_RUT,
        issuer_name=NAME,
        receiver_rut=samples.DEFAULT_RECEIVER_RUT,
        receiver_name=NAME,
        total=100,
    )
    page = admin_client.get(reverse("admin:documents_document_changelist")).content.decode()
    assert "<datalist" in page and "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert 'title="Sur&quot;&gt;&lt;script&gt;' in page, "the hover text holds the name, escaped"
    assert "<i>buzón</i>" not in page

    page = admin_client.get(
        reverse("admin:documents_document_changelist"), {"issuer": TYPED, "total_from": TYPED, "q": TYPED}
    ).content.decode()
    assert "<svg onload" not in page and "&lt;svg onload=alert(2)&gt;" in page
