"""The claim deadline of Ley 19.983: worked out from the mail's arrival (an estimate) until the SII's
register says when the SII received the factura; its state over time; decisions with their audit
history; who may decide; the list's filters and the dashboard's counts.

Documents come through the real pipeline where what they came from matters (mail, register); the
states and filters are checked on documents written with the ORM, their deadlines set around now."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from bench.rcv_import import HEADER
from pipeline import samples
from tests.support.inline import process_folder, process_mailbox
from tests.support.mailbox_pair import clerk_of
from webapp.documents.admin_claims import days_left_text, deadline_cell
from webapp.documents.models import ClaimState, DecisionCode, Document, DocumentDecision
from webapp.documents.services.claims import (
    claim_state,
    claims_summary,
    decision_record,
    with_claim_state,
)
from webapp.inbox.models import Mailbox
from webapp.register.services.imports import rcv_import

pytestmark = pytest.mark.django_db

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-CL,es;q=0.9"}
LIST = "admin:documents_document_changelist"
UTC = dt.UTC
SENT = dt.datetime(2026, 3, 30, 12, 0, tzinfo=UTC)


def _mails(folios_and_types: list[tuple[int, int]], sent: dt.datetime = SENT) -> tuple[bytes, ...]:
    return tuple(
        samples.supplier_email(folio=folio, doc_type=doc_type, sent_at=sent, message_id=f"<{doc_type}-{folio}@p.cl>")
        for folio, doc_type in folios_and_types
    )


def _register(rows: list[tuple[int, int, str]]) -> bytes:
    """A pendiente list of the SII: (type, folio, Fecha Recepcion on Santiago's clock) of the default issuer."""
    lines = [HEADER.format(acuse="")]
    for number, (doc_type, folio, received) in enumerate(rows, start=1):
        lines.append(
            f"{number};{doc_type};Del Giro;{samples.DEFAULT_ISSUER_RUT};Proveedora;{folio};14/05/2024;{received};"
            "0;10000;1900;;;11900;;;;;0;0;;;\n"
        )
    return "".join(lines).encode()


def _import(rows: list[tuple[int, int, str]], mailbox: Mailbox | None):
    return rcv_import(
        io.BytesIO(_register(rows)),
        filename="rcv.csv",
        receiver_rut=samples.DEFAULT_RECEIVER_RUT,
        period="2026-04",
        mailbox=mailbox,
    )


def _document(mailbox: Mailbox, folio: int, *, deadline: dt.datetime | None, doc_type: int = 33, **fields) -> Document:
    return Document.objects.create(
        mailbox=mailbox,
        doc_type=doc_type,
        type_name="Factura electrónica",
        folio=folio,
        issuer_rut=samples.DEFAULT_ISSUER_RUT,
        receiver_rut=samples.DEFAULT_RECEIVER_RUT,
        claim_deadline=deadline,
        **fields,
    )


def test_a_factura_from_mail_gets_a_deadline_estimated_from_the_mails_arrival(tmp_path: Path):
    future = dt.datetime(2999, 1, 1, tzinfo=UTC)  # a forged Date header is not believed
    # a folder's mail has only the sender's Date: believed near its reading (test_attack15_claims.py)
    sent = timezone.now().replace(microsecond=0) - dt.timedelta(hours=3)
    mails = (*_mails([(501, 33), (502, 52), (503, 46), (504, 34)], sent=sent), *_mails([(505, 33)], sent=future))
    process_folder(tmp_path / "norte", mails, name="norte", why="every document is recorded")
    documents = {d.folio: d for d in Document.objects.all()}

    factura = documents[501]
    assert factura.claim_deadline == sent + dt.timedelta(days=8)
    assert factura.claim_deadline_estimated and factura.sii_received_at is None
    assert documents[504].claim_deadline == sent + dt.timedelta(days=8)  # exenta, claimable too
    for not_claimed in (documents[502], documents[503]):  # a guide and a factura de compra are not claimed
        assert not_claimed.claim_deadline is None and claim_state(not_claimed) is None
    forged = documents[505]
    read_at = forged.sources.get().attachment.message.created_at
    assert forged.claim_deadline == read_at + dt.timedelta(days=8)
    assert claim_state(factura, sent + dt.timedelta(days=1)) == ClaimState.PENDING
    assert claim_state(factura, sent + dt.timedelta(days=9)) == ClaimState.TACITLY_ACCEPTED


def test_the_register_sets_the_sii_reception_and_the_deadline_runs_from_it_across_the_change_of_clocks(
    tmp_path: Path, admin_client
):
    process_folder(tmp_path / "norte", _mails([(601, 33), (602, 52)]), name="norte", why="recorded")
    folder = tmp_path / "sur"
    folder.mkdir()
    (folder / "01.eml").write_bytes(_mails([(601, 33)])[0])
    assert process_mailbox(Mailbox.objects.create(name="sur", settings={"path": str(folder)})).raised == []
    norte, sur = Mailbox.objects.get(name="norte"), Mailbox.objects.get(name="sur")

    # Santiago goes from -03 to -04 on 5 April 2026: the deadline is 8 x 24 h after the reception
    _import([(33, 601, "01/04/2026 10:00:00"), (52, 602, "01/04/2026 10:00:00")], mailbox=norte)
    factura = Document.objects.get(mailbox=norte, folio=601)
    assert factura.sii_received_at == dt.datetime(2026, 4, 1, 13, 0, tzinfo=UTC)
    assert factura.claim_deadline == dt.datetime(2026, 4, 9, 13, 0, tzinfo=UTC)
    assert not factura.claim_deadline_estimated
    assert timezone.localtime(factura.claim_deadline).strftime("%d-%m-%Y %H:%M") == "09-04-2026 09:00"
    assert Document.objects.get(folio=602).claim_deadline is None  # a guide stays without one
    assert Document.objects.get(mailbox=sur).claim_deadline_estimated  # another mailbox's import is not sur's

    page = admin_client.get(reverse("admin:documents_document_change", args=[factura.pk]), **SPANISH)
    text = page.content.decode()
    assert "plazo hasta el 09-04-2026 09:00" in text
    assert "Contado desde su recepción en el SII el 01-04-2026 10:00." in text

    _import([(33, 601, "02/04/2026 08:30:00")], mailbox=None)  # an operator's import is every mailbox's
    assert Document.objects.get(mailbox=sur).claim_deadline == dt.datetime(2026, 4, 10, 11, 30, tzinfo=UTC)
    assert Document.objects.get(mailbox=norte, folio=601).sii_received_at == dt.datetime(2026, 4, 2, 11, 30, tzinfo=UTC)


def test_a_factura_recorded_after_its_register_takes_the_sii_reception(tmp_path: Path):
    _import([(33, 701, "01/04/2026 10:00:00")], mailbox=None)
    process_folder(tmp_path / "norte", _mails([(701, 33)]), name="norte", why="recorded")
    factura = Document.objects.get(folio=701)
    assert factura.sii_received_at == dt.datetime(2026, 4, 1, 13, 0, tzinfo=UTC)
    assert factura.claim_deadline == dt.datetime(2026, 4, 9, 13, 0, tzinfo=UTC)
    assert not factura.claim_deadline_estimated


def test_days_left_are_counted_in_local_calendar_days():
    norte = Mailbox.objects.create(name="norte", settings={"path": "/nowhere"})
    deadline = dt.datetime(2026, 4, 9, 13, 0, tzinfo=UTC)  # 09:00 in Santiago
    factura = _document(norte, 1, deadline=deadline)
    with translation.override("es"):
        assert days_left_text(factura, dt.datetime(2026, 4, 6, 15, 0, tzinfo=UTC)) == "vence en 3 días"
        assert days_left_text(factura, dt.datetime(2026, 4, 8, 23, 0, tzinfo=UTC)) == "vence mañana"
        assert days_left_text(factura, dt.datetime(2026, 4, 9, 4, 30, tzinfo=UTC)) == "vence hoy"  # 00:30 local
        assert days_left_text(factura, dt.datetime(2026, 4, 9, 14, 0, tzinfo=UTC)) == "venció hoy"
        assert days_left_text(factura, dt.datetime(2026, 4, 11, 12, 0, tzinfo=UTC)) == "venció hace 2 días"
        cell = deadline_cell(factura, dt.datetime(2026, 4, 6, 15, 0, tzinfo=UTC))
        assert "Pendiente" in cell and "09-04-2026 09:00" in cell and "vence en 3 días" in cell  # the time on hover
        assert "estimado" not in cell
        Document.objects.filter(pk=factura.pk).update(claim_deadline_estimated=True)
        factura.refresh_from_db()
        tacit = deadline_cell(factura, dt.datetime(2026, 4, 11, 12, 0, tzinfo=UTC))
        assert "Aceptada tácitamente" in tacit and "estimado" in tacit and "venció hace 2 días" in tacit


def test_decisions_are_kept_in_the_history_and_the_latest_is_the_state():
    norte = Mailbox.objects.create(name="norte", settings={"path": "/nowhere"})
    clerk = clerk_of(norte)
    now = timezone.now()
    factura = _document(norte, 1, deadline=now + dt.timedelta(days=5))
    guide = _document(norte, 2, deadline=None, doc_type=52)

    with pytest.raises(ValidationError) as missing:
        decision_record(factura, DecisionCode.RCD, "   ", clerk)
    assert missing.value.code == "reason_required" and not factura.decisions.exists()
    with pytest.raises(ValidationError):
        decision_record(guide, DecisionCode.ACD, "", clerk)

    decision_record(factura, DecisionCode.RCD, "Precio distinto al de la orden de compra", clerk, now=now)
    assert claim_state(factura) == ClaimState.CLAIMED
    decision_record(factura, DecisionCode.ACD, "", clerk, now=now + dt.timedelta(hours=1))  # reason optional
    factura.refresh_from_db()
    assert factura.claim_decision == DecisionCode.ACD and claim_state(factura) == ClaimState.ACCEPTED
    history = list(factura.decisions.values_list("code", "reason", "decided_by__username"))
    assert history == [
        ("ACD", "", "clerk"),
        ("RCD", "Precio distinto al de la orden de compra", "clerk"),
    ]
    assert claim_state(factura, now + dt.timedelta(days=30)) == ClaimState.ACCEPTED  # a decision outlives the deadline


def test_a_decision_after_the_deadline_is_recorded_and_said_late(client):
    norte = Mailbox.objects.create(name="norte", settings={"path": "/nowhere"})
    clerk = clerk_of(norte)
    client.force_login(clerk)
    factura = _document(norte, 1, deadline=timezone.now() - dt.timedelta(days=2))
    url = reverse("admin:documents_document_decision", args=[factura.pk])
    form = client.get(url, **SPANISH).content.decode()
    assert "El plazo venció: para el SII esta factura ya está aceptada." in form
    response = client.post(url, {"code": "RFT", "reason": "Nunca llegó"}, follow=True, **SPANISH)
    text = response.content.decode()
    assert "El plazo ya había vencido" in text and "fuera de plazo" in text
    assert DocumentDecision.objects.get(document=factura).code == "RFT"


def test_only_holders_of_the_permission_decide_and_only_for_their_mailboxes(client):
    norte = Mailbox.objects.create(name="norte", settings={"path": "/nowhere"})
    sur = Mailbox.objects.create(name="sur", settings={"path": "/nowhere"})
    later = timezone.now() + dt.timedelta(days=4)
    mine, theirs = _document(norte, 1, deadline=later), _document(sur, 2, deadline=later)
    clerk = clerk_of(norte)
    client.force_login(clerk)

    page = client.get(reverse("admin:documents_document_change", args=[mine.pk]), **SPANISH).content.decode()
    assert "Registrar una decisión" in page and "Aceptación o reclamo (Ley 19.983)" in page
    theirs_url = reverse("admin:documents_document_decision", args=[theirs.pk])
    assert client.post(theirs_url, {"code": "ACD", "reason": ""}).status_code == 404
    with pytest.raises(PermissionDenied):
        decision_record(theirs, DecisionCode.ACD, "", clerk)
    assert not theirs.decisions.exists()

    response = client.post(
        reverse("admin:documents_document_decision", args=[mine.pk]), {"code": "RCD", "reason": ""}, **SPANISH
    )
    assert response.status_code == 200 and "Un reclamo necesita su motivo." in response.content.decode()
    response = client.post(
        reverse("admin:documents_document_decision", args=[mine.pk]), {"code": "ERM", "reason": "Recibido conforme"}
    )
    assert response.status_code == 302
    page = client.get(reverse("admin:documents_document_change", args=[mine.pk]), **SPANISH).content.decode()
    assert "Decisiones (historial)" in page and "Recibido conforme" in page and "Aceptada" in page

    clerk.user_permissions.remove(Permission.objects.get(codename="decide_document"))
    reader = User.objects.get(pk=clerk.pk)
    client.force_login(reader)
    page = client.get(reverse("admin:documents_document_change", args=[mine.pk]), **SPANISH).content.decode()
    assert "Aceptación o reclamo" in page and "Registrar una decisión" not in page
    decide = reverse("admin:documents_document_decision", args=[mine.pk])
    assert client.post(decide, {"code": "ACD", "reason": ""}).status_code == 403
    assert mine.decisions.count() == 1


def _month(mailbox: Mailbox, start: int, now: dt.datetime) -> dict[str, Document]:
    """One factura of each state, and one due in 5 days; a guide without a deadline."""
    documents = {
        "today": _document(mailbox, start, deadline=now + dt.timedelta(minutes=30)),
        "soon": _document(mailbox, start + 1, deadline=now + dt.timedelta(days=1)),
        "later": _document(mailbox, start + 2, deadline=now + dt.timedelta(days=5)),
        "overdue": _document(mailbox, start + 3, deadline=now - dt.timedelta(days=2)),
        "accepted": _document(mailbox, start + 4, deadline=now + dt.timedelta(days=1), claim_decision="ACD"),
        "claimed": _document(mailbox, start + 5, deadline=now - dt.timedelta(days=3), claim_decision="RFP"),
        "guide": _document(mailbox, start + 6, deadline=None, doc_type=52),
    }
    return documents


def _listed(client, query: str) -> set[int]:
    response = client.get(reverse(LIST) + query, **SPANISH)
    assert response.status_code == 200
    return {document.folio for document in response.context["cl"].result_list}


def test_the_filters_the_state_annotation_and_the_dashboard_counts(admin_client):
    now = timezone.now()
    norte = Mailbox.objects.create(name="norte", settings={"path": "/nowhere"})
    sur = Mailbox.objects.create(name="sur", settings={"path": "/nowhere"})
    month = _month(norte, 100, now)
    _month(sur, 200, now)
    folio = {name: document.folio for name, document in month.items()}

    soon = _listed(admin_client, "?deadline=soon")
    assert soon == {folio["today"], folio["soon"], folio["today"] + 100, folio["soon"] + 100}
    assert _listed(admin_client, "?deadline=overdue") == {folio["overdue"], folio["overdue"] + 100}
    assert _listed(admin_client, "?claim_state=accepted") == {folio["accepted"], folio["accepted"] + 100}
    assert _listed(admin_client, "?claim_state=claimed") == {folio["claimed"], folio["claimed"] + 100}
    assert _listed(admin_client, "?claim_state=pending") == {
        folio[name] + offset for name in ("today", "soon", "later") for offset in (0, 100)
    }
    page = admin_client.get(reverse(LIST) + "?deadline=soon", **SPANISH).content.decode()
    assert "Vence en 2 días o menos" in page and "vence hoy" in page and "vence mañana" in page

    states = dict(with_claim_state(Document.objects.filter(mailbox=norte), now).values_list("folio", "claim_state"))
    assert states == {document.folio: claim_state(document, now) for document in month.values()}

    summary = claims_summary({norte.pk})
    assert (summary["due_soon_count"], summary["overdue_count"]) == (2, 1)
    assert claims_summary(None)["due_soon_count"] == 4
    listing = reverse(LIST)
    assert (
        summary["due_soon_url"] == f"{listing}?deadline=soon"
        and summary["overdue_url"] == f"{listing}?deadline=overdue"
    )


def test_the_list_with_its_deadlines_costs_the_same_for_3_and_30_facturas(admin_client):
    now = timezone.now()
    norte = Mailbox.objects.create(name="norte", settings={"path": "/nowhere"})

    def queries(count: int, start: int) -> int:
        for number in range(count):
            _document(norte, start + number, deadline=now + dt.timedelta(hours=number))
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(reverse(LIST) + "?deadline=soon").status_code == 200
        return len(captured)

    few = queries(3, 1)
    assert queries(27, 1000) == few
