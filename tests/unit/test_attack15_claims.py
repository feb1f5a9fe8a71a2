"""A hostile sender's Date header against the claim deadline (Ley 19.983): a mail dated years ago must not
make a factura that just arrived look tacitly accepted, gone from "vence en 2 días o menos" and counted
as expired on the dashboard, before the accountant ever saw it. Microsoft 365 stamps the arrival on its
own server, so a Graph mailbox's past arrival (a backfill) is believed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipeline import samples
from tests.support.inline import process_folder
from webapp.documents.models import ClaimState, Document
from webapp.documents.services.claims import claim_deadline_set, claim_state, claims_summary
from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db

LONG_AGO = dt.datetime(2001, 1, 1, 12, 0, tzinfo=dt.UTC)


def _factura_dated(tmp_path: Path, sent: dt.datetime) -> Document:
    mail = samples.supplier_email(folio=4242, doc_type=33, sent_at=sent, message_id="<forged-date@p.cl>")
    process_folder(tmp_path / "norte", (mail,), name="norte", why="the factura is recorded")
    return Document.objects.get(folio=4242)


def test_a_date_header_far_in_the_past_does_not_make_a_new_factura_tacitly_accepted(tmp_path: Path):
    factura = _factura_dated(tmp_path, LONG_AGO)
    read_at = factura.sources.get().attachment.message.created_at

    assert factura.claim_deadline == read_at + dt.timedelta(days=8), "the sender's Date moved the deadline"
    assert factura.claim_deadline_estimated
    assert claim_state(factura) == ClaimState.PENDING
    summary = claims_summary(None)
    assert summary["overdue_count"] == 0


def test_a_date_header_near_the_reading_is_believed(tmp_path: Path):
    sent = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=5)
    factura = _factura_dated(tmp_path, sent)
    assert factura.claim_deadline == sent + dt.timedelta(days=8)


def test_microsoft_365s_own_stamp_of_a_past_arrival_is_believed(tmp_path: Path):
    factura = _factura_dated(tmp_path, LONG_AGO)
    Mailbox.objects.filter(pk=factura.mailbox_id).update(kind=Mailbox.Kind.GRAPH)  # received_at: the server's
    assert claim_deadline_set(factura) == LONG_AGO + dt.timedelta(days=8)
    assert claim_state(factura) == ClaimState.TACITLY_ACCEPTED
