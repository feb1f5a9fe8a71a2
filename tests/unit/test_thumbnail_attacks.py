"""Attacks on the on-request PDF thumbnail change and the one-query _link_earlier_records.

Written under a time limit: what was checked and held is listed in the attack report; these tests pin
behaviour the change depends on (they pass: no way in was confirmed by a failing test).
"""

from __future__ import annotations

import pytest
from django.db.models import Exists

from pipeline import samples
from tests.support.inline import process_mailbox
from webapp.documents.models import Document, DocumentResponse
from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db


def test_an_empty_responses_query_reads_false_and_keeps_the_documents_row(tmp_path, redis_client):
    """Outside Chile responses_waiting is .none(): its Exists in the one waiting query must read False,
    not drop the Document's row (`.first()` would then be None and no note or cesion would be linked)."""
    folder = tmp_path / "norte"
    folder.mkdir()
    (folder / "01.eml").write_bytes(samples.supplier_email(folio=501))
    mailbox = Mailbox.objects.create(name="norte", settings={"path": str(folder)})
    assert process_mailbox(mailbox).raised == []
    document = Document.objects.get(mailbox=mailbox)
    row = (
        Document.objects.filter(pk=document.pk)
        .annotate(waiting_responses=Exists(DocumentResponse.objects.none()))
        .values("pk", "waiting_responses")
        .first()
    )
    assert row == {"pk": document.pk, "waiting_responses": False}
