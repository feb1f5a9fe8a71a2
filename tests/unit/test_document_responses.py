"""Receivers' answers: RespuestaDTE (each DTE received, each accepted or rejected) and EnvioRecibos (goods
received) read into rows, linked to the document they answer in the same mailbox whichever arrives
first, never to another mailbox's, recorded again without doubling, listed only to who sees the mailbox."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from pipeline import samples
from pipeline.dte import Kind, ParsedFile, parse_file, parse_path
from tests.support import response_cases as cases
from tests.support.inline import process_folder
from tests.support.mailbox_pair import clerk_of
from tests.unit.test_document_money_records import xml_attachment
from webapp.documents.admin_responses import DocumentResponseInline
from webapp.documents.models import Document, DocumentResponse
from webapp.documents.services.documents import xml_attachment_record
from webapp.documents.services.responses import responses_link, responses_record
from webapp.inbox.models import Attachment, Mailbox

pytestmark = pytest.mark.django_db

ISSUER = samples.DEFAULT_ISSUER_RUT
RECEIVER = samples.DEFAULT_RECEIVER_RUT
#: 09:30 in Santiago on 15 May 2024, winter time (UTC-4).
ANSWERED = datetime(2024, 5, 15, 13, 30, tzinfo=UTC)
ACCEPTED = cases.Answered(glosa="ACEPTADO OK")


def _record(attachment: Attachment, data: bytes) -> list[DocumentResponse]:
    """The file recorded as the pipeline records it after parsing, then its answers."""
    parsed = parse_file(data)
    xml_attachment_record(attachment=attachment, parsed=parsed)
    return responses_record(attachment=attachment, parsed=parsed)


def _invoice(mailbox: Mailbox) -> Document:
    xml_attachment_record(attachment=xml_attachment(mailbox), parsed=parse_file(samples.dte_xml()))
    return Document.objects.get(mailbox=mailbox, issuer_rut=ISSUER, doc_type=33, folio=1234)


# -- reading ------------------------------------------------------------------------------------


def test_a_respuesta_dte_says_each_dte_received_and_each_accepted_or_rejected():
    other = cases.Answered(folio="1235", total="11900", state="4", glosa="DTE No Recibido - DTE Repetido")
    parsed = parse_file(
        cases.respuesta_dte(
            received=[cases.Answered(glosa="DTE Recibido OK"), other], results=[ACCEPTED, cases.REJECTED]
        )
    )

    assert (parsed.kind, parsed.problems, parsed.documents) == (Kind.RESPONSE, [], [])
    assert parsed.summary == f"RespuestaDTE from {RECEIVER}: 4 result(s)"
    rows = [(r.kind, r.folio, r.status_code, r.status_text) for r in parsed.responses]
    assert rows == [
        ("reception", 1234, 0, "DTE Recibido OK"),
        ("reception", 1235, 4, "DTE No Recibido - DTE Repetido"),
        ("result", 1234, 0, "ACEPTADO OK"),
        ("result", 1234, 2, cases.REJECTED.glosa),
    ]
    first = parsed.responses[0]
    assert (first.issuer_rut, first.receiver_rut, first.responder_rut) == (ISSUER, RECEIVER, RECEIVER)
    assert (first.doc_type, first.issue_date, first.total) == (33, date(2024, 5, 14), cases.INVOICE_TOTAL)
    assert {r.answered_at for r in parsed.responses} == {ANSWERED}


def test_an_envio_recibos_says_each_receipt_with_where_and_when_it_was_signed():
    summer = cases.Answered(folio="88", signed_at="2024-01-16T11:20:00-03:00", glosa="Sucursal Ñuñoa")
    parsed = parse_file(cases.envio_recibos(receipts=[cases.Answered(glosa="Bodega Central"), summer]))

    assert (parsed.kind, parsed.problems) == (Kind.RECEIPTS, [])
    assert parsed.summary == f"EnvioRecibos from {RECEIVER}: 2 receipt(s)"
    first, second = parsed.responses
    assert (first.kind, first.doc_type, first.folio, first.status_code) == ("receipt", 33, 1234, None)
    assert (first.issuer_rut, first.receiver_rut, first.responder_rut) == (ISSUER, RECEIVER, RECEIVER)
    assert (first.status_text, second.status_text) == ("Bodega Central", "Sucursal Ñuñoa")
    # the first has no offset: Santiago's clock in May (UTC-4); the second says its own
    assert first.answered_at == datetime(2024, 5, 16, 15, 20, tzinfo=UTC)
    assert second.answered_at == datetime(2024, 1, 16, 14, 20, tzinfo=UTC)


def test_answers_cross_the_sandbox_as_instants(tmp_path):
    path = tmp_path / "respuesta.xml"
    path.write_bytes(cases.respuesta_dte(results=[cases.REJECTED]))
    parsed = parse_path(path, content_type="application/xml")
    assert [(r.kind, r.answered_at) for r in parsed.responses] == [("reception", ANSWERED), ("result", ANSWERED)]


def test_an_envelope_refused_whole_is_said_though_it_names_no_dte():
    parsed = parse_file(
        cases.respuesta_dte(received=[], envelope_state="2", envelope_glosa="Envio Rechazado - Error de Firma")
    )
    assert parsed.responses == []
    assert parsed.problems == [
        f"Resultado #1: RecepcionEnvio #1: EnvioDTE_{ISSUER}_1234.xml was refused "
        "(EstadoRecepEnv 2 'Envio Rechazado - Error de Firma') and names no DTE"
    ]


@pytest.mark.parametrize(
    ("answered", "problem", "read"),
    [
        (cases.Answered(issue_date="2024-13-45"), "FchEmis '2024-13-45' is not a date", {"issue_date": None}),
        (cases.Answered(total="1E+30"), "MntTotal '1E+30' is not an amount", {"total": None}),
        (cases.Answered(state="ok"), "EstadoDTE 'ok' is not a whole number", {"status_code": None}),
        (cases.Answered(issuer_rut="76086428-1"), "RUTEmisor: wrong check digit", {"issuer_rut": "76086428-1"}),
        (cases.Answered(receiver_rut="no sé"), "RUTRecep: not a RUT", {"folio": 1234}),
    ],
)
def test_a_bad_value_is_a_recorded_problem_and_left_blank(answered, problem, read):
    parsed = parse_file(cases.respuesta_dte(received=[], results=[answered]))
    (response,) = parsed.responses
    assert len(parsed.problems) == 1 and problem in parsed.problems[0], parsed.problems
    assert parsed.problems[0].startswith("Resultado #1: ResultadoDTE #1: ")
    assert {name: getattr(response, name) for name in read} == read


@pytest.mark.parametrize(
    ("answered", "missing"),
    [
        (cases.Answered(folio="12a"), "Folio"),
        (cases.Answered(folio=""), "Folio"),
        (cases.Answered(doc_type="-33"), "TipoDoc"),
        (cases.Answered(folio="99999999999999"), "Folio"),
    ],
)
def test_a_receipt_that_names_no_dte_is_left_out_and_said(answered, missing):
    parsed = parse_file(cases.envio_recibos(receipts=[answered, cases.Answered(folio="7")]))
    assert [r.folio for r in parsed.responses] == [7]
    assert any(f"Recibo #1: no readable {missing}; not linked to any document" in p for p in parsed.problems)


@pytest.mark.parametrize(
    "stamp", ["ayer a las 9", "2024-05-15T25:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"]
)
def test_a_signing_time_that_is_no_instant_is_recorded_and_left_blank(stamp):
    parsed = parse_file(cases.respuesta_dte(signed_at=stamp))
    assert [r.answered_at for r in parsed.responses] == [None]
    assert len(parsed.problems) == 1 and parsed.problems[0].startswith(f"Resultado #1: TmstFirmaResp {stamp[:40]!r}")
    receipts = parse_file(cases.envio_recibos(receipts=[cases.Answered(signed_at=stamp)], signed_at=""))
    assert [r.answered_at for r in receipts.responses] == [None]
    assert "TmstFirmaRecibo" in receipts.problems[0]


def test_a_bad_signer_rut_is_said_and_the_receipt_kept():
    parsed = parse_file(cases.envio_recibos(signer="12345678-0"))
    assert [r.folio for r in parsed.responses] == [1234]
    assert parsed.problems == ["SetRecibos: Recibo #1: RutFirma: wrong check digit: 12345678-0 should end in -5"]


# -- recording and linking ----------------------------------------------------------------------


def test_an_answer_after_its_invoice_links_to_it():
    mailbox = Mailbox.objects.create(name="norte")
    invoice = _invoice(mailbox)
    rows = _record(xml_attachment(mailbox), cases.respuesta_dte(results=[cases.REJECTED]))
    assert [(row.kind, row.status_code, row.document_id) for row in rows] == [
        ("reception", 0, invoice.pk),
        ("result", 2, invoice.pk),
    ]
    row = rows[1]
    assert (row.issuer_rut, row.doc_type, row.folio, row.total) == (ISSUER, 33, 1234, cases.INVOICE_TOTAL)
    assert (row.answered_at, row.status_text) == (ANSWERED, cases.REJECTED.glosa)
    assert list(invoice.responses.order_by("position").values_list("kind", flat=True)) == ["reception", "result"]


def test_an_answer_before_its_invoice_links_when_the_invoice_arrives():
    mailbox = Mailbox.objects.create(name="norte")
    (receipt,) = _record(xml_attachment(mailbox), cases.envio_recibos())
    assert receipt.document is None
    invoice = _invoice(mailbox)
    responses_link(invoice)  # document_record's call, once wired
    receipt.refresh_from_db()
    assert receipt.document == invoice
    assert responses_link(invoice) == 0, "nothing left to link"


def test_the_same_key_in_another_mailbox_is_never_linked():
    norte, sur = Mailbox.objects.create(name="norte"), Mailbox.objects.create(name="sur")
    norte_invoice = _invoice(norte)
    (sur_answer,) = _record(xml_attachment(sur), cases.envio_recibos())
    assert sur_answer.document is None, "norte's invoice is not sur's"
    assert responses_link(norte_invoice) == 0
    sur_invoice = _invoice(sur)
    responses_link(sur_invoice)
    sur_answer.refresh_from_db()
    assert sur_answer.document == sur_invoice
    assert not norte_invoice.responses.exists()


def test_recording_again_doubles_nothing_and_drops_what_the_file_no_longer_says():
    mailbox = Mailbox.objects.create(name="norte")
    attachment = xml_attachment(mailbox)
    two = parse_file(cases.respuesta_dte(results=[cases.REJECTED]))
    first = responses_record(attachment=attachment, parsed=two)
    again = responses_record(attachment=attachment, parsed=two)
    assert [row.pk for row in again] == [row.pk for row in first]
    assert DocumentResponse.objects.filter(attachment=attachment).count() == 2

    one = ParsedFile(format=two.format, kind=two.kind, responses=[dataclasses.replace(two.responses[1], folio=77)])
    (kept,) = responses_record(attachment=attachment, parsed=one)
    assert (kept.pk, kept.kind, kept.folio) == (first[0].pk, "result", 77)
    assert list(DocumentResponse.objects.filter(attachment=attachment)) == [kept]


# -- the admin ----------------------------------------------------------------------------------


def _answers(mailbox: Mailbox, folio: str, glosa: str) -> None:
    _record(
        xml_attachment(mailbox), cases.respuesta_dte(received=[], results=[cases.Answered(folio=folio, glosa=glosa)])
    )


def test_a_clerk_lists_and_finds_only_the_answers_of_their_mailboxes(client):
    norte, sur = Mailbox.objects.create(name="norte"), Mailbox.objects.create(name="sur")
    _answers(norte, "1234", "ACEPTADO OK norte")
    _answers(sur, "1234", "RECHAZADO secreto de sur")
    _answers(sur, "555", "RECHAZADO secreto de sur")
    client.force_login(clerk_of(norte))
    url = reverse("admin:documents_documentresponse_changelist")

    for query in ({}, {"q": "1234"}, {"q": "76.086.428-5"}, {"q": "secreto"}, {"outcome": "rejected"}):
        page = client.get(url, query)
        assert page.status_code == 200
        listed = {row.attachment.message.mailbox_id for row in page.context["cl"].result_list}
        assert listed <= {norte.pk}, query
        assert "secreto de sur" not in page.content.decode()
    assert [row.status_text for row in client.get(url, {"q": "76.086.428-5"}).context["cl"].result_list] == [
        "ACEPTADO OK norte"
    ]
    page = client.get(url, {"outcome": "accepted"}, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Aceptado" in page and "Respondido por" in page and "Respuestas de los receptores" in page
    sur_row = DocumentResponse.objects.filter(attachment__message__mailbox=sur).first()
    change = client.get(reverse("admin:documents_documentresponse_change", args=[sur_row.pk]), follow=True)
    assert "secreto de sur" not in change.content.decode()


def test_the_superuser_finds_every_answer_by_status(admin_client):
    norte = Mailbox.objects.create(name="norte")
    _record(xml_attachment(norte), cases.respuesta_dte(results=[ACCEPTED, cases.REJECTED]))
    url = reverse("admin:documents_documentresponse_changelist")
    statuses = {
        outcome: sorted(
            (r.kind, r.status_code) for r in admin_client.get(url, {"outcome": outcome}).context["cl"].result_list
        )
        for outcome in ("accepted", "rejected", "discrepancies")
    }
    assert statuses == {"accepted": [("reception", 0), ("result", 0)], "rejected": [("result", 2)], "discrepancies": []}


def test_the_document_page_inline_lists_its_answers_for_a_clerk_of_its_mailbox():
    norte = Mailbox.objects.create(name="norte")
    invoice = _invoice(norte)
    _record(xml_attachment(norte), cases.respuesta_dte(results=[cases.REJECTED]))
    request = RequestFactory().get("/")
    request.user = clerk_of(norte)
    inline = DocumentResponseInline(Document, admin.site)
    rows = list(inline.get_queryset(request).filter(document=invoice))
    assert [inline.status_display(row) for row in rows] == [
        "<b>Received</b> (0)<br><small>DTE Recibido OK</small>",
        f"<b>Rejected</b> (2)<br><small>{cases.REJECTED.glosa}</small>",
    ]
    request.user = clerk_of(Mailbox.objects.create(name="sur"), username="sur-clerk")
    assert not inline.get_queryset(request).exists()


# -- end to end ---------------------------------------------------------------------------------


def _mail(name: str, data: bytes) -> bytes:
    return samples.supplier_email(subject=name, attachments=[(f"{name}.xml", "application/xml", data)])


@pytest.mark.parametrize("answer_first", [False, True])
def test_mailed_answers_link_to_the_mailed_invoice_either_way(tmp_path, answer_first, client):
    invoice = _mail("factura", samples.dte_xml())
    answers = (_mail("respuesta", cases.respuesta_dte(results=[ACCEPTED])), _mail("recibo", cases.envio_recibos()))
    mails = (*answers, invoice) if answer_first else (invoice, *answers)
    run = process_folder(tmp_path / "inbox", mails, name="norte", why="answers are recorded, never raise").run
    document = Document.objects.get(mailbox=run.mailbox, issuer_rut=ISSUER, doc_type=33, folio=1234)
    kinds = sorted(DocumentResponse.objects.filter(document=document).values_list("kind", flat=True))
    assert kinds == ["receipt", "reception", "result"]
    client.force_login(clerk_of(run.mailbox))
    page = client.get(reverse("admin:documents_document_change", args=[document.pk]), HTTP_ACCEPT_LANGUAGE="es")
    assert page.status_code == 200
    assert "Respuestas de los receptores" in page.content.decode(), "the document page lists its answers"
