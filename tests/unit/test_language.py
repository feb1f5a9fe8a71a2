"""Language: the admin follows the browser (English or Spanish), and dates and amounts print the Chilean
way under es-CL (the catalogue itself: test_catalogue.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import formats, translation

from pipeline.dte.formatting import clp
from webapp.documents.models import Document
from webapp.inbox.models import Attachment, Blob, FetchRun, Mailbox, MailMessage

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-CL,es;q=0.9"}
ENGLISH = {"HTTP_ACCEPT_LANGUAGE": "en"}


# -- pages --------------------------------------------------------------------------------------


@pytest.fixture
def rows(db):
    mailbox = Mailbox.objects.create(name="proveedores", settings={"path": "/tmp/none"})
    run = FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.COMPLETED)
    message = MailMessage.objects.create(
        mailbox=mailbox, fetch_run=run, source_id="m1", subject="Factura 501", status=MailMessage.Status.PROCESSED
    )
    blob = Blob.objects.create(sha256="a" * 64, size=1234, content_type="application/pdf", storage_name="a" * 64)
    Attachment.objects.create(
        message=message,
        position=0,
        original_filename="factura.pdf",
        filename="factura.pdf",
        content_type="application/pdf",
        blob=blob,
        status=Attachment.Status.STORED,
    )
    Document.objects.create(
        mailbox=mailbox,
        doc_type=33,
        type_name="Factura electrónica",
        folio=501,
        issue_date=dt.date(2026, 11, 22),
        issuer_rut="76086428-5",
        issuer_name="Distribuidora Ñuble S.A.",
        total=1_234_567,
    )


def test_admin_index_follows_the_browser(admin_client, rows):
    spanish = admin_client.get(reverse("admin:index"), **SPANISH).content.decode()
    for text in (
        "Buzón de facturas",
        "Casillas de correo",
        "Lecturas del buzón",
        "Adjuntos",
        "Documentos tributarios (DTE)",
        "Panel de procesamiento",
    ):
        assert text in spanish, text
    assert "Mailbox reads" not in spanish and "Django" not in spanish
    english = admin_client.get(reverse("admin:index"), **ENGLISH).content.decode()
    for text in ("Invoice mail", "Mailboxes", "Mailbox reads", "Attachments", "DTE documents", "Pipeline dashboard"):
        assert text in english, text
    assert "Buzón de facturas" not in english


def test_attachment_list_in_spanish_and_english(admin_client, rows):
    url = reverse("admin:inbox_attachment_changelist")
    spanish = admin_client.get(url, **SPANISH).content.decode()
    for text in (
        "Nombre de archivo",
        "Tamaño",
        "Estado de la vista previa",
        "Guardado",
        ">Descargar</a>",
        "Sin vista previa para este tipo",
    ):
        assert text in spanish, text
    english = admin_client.get(url, **ENGLISH).content.decode()
    for text in ("Filename", "Size", "Preview status", "Stored", ">Download</a>", "No preview for this type"):
        assert text in english, text
    assert "Guardado" not in english


def test_document_list_in_spanish_with_chilean_dates_and_amounts(admin_client, rows):
    url = reverse("admin:documents_document_changelist")
    spanish = admin_client.get(url, **SPANISH).content.decode()
    for text in (
        "Emisor",
        "Fecha de emisión",
        "Folio",
        "Pendiente",
        "Verificación",
        "22-11-2026",
        "$1.234.567",
        "Descargar los documentos seleccionados en un ZIP",
    ):
        assert text in spanish, text
    english = admin_client.get(url, **ENGLISH).content.decode()
    for text in (
        "Issuer",
        "Issue date",
        "Pending",
        "Nov. 22, 2026",
        "$1.234.567",
        "Download selected documents as a ZIP",
    ):
        assert text in english, text
    assert "22-11-2026" not in english


def test_run_status_and_messages_are_spanish(admin_client, rows):
    page = admin_client.get(reverse("admin:inbox_fetchrun_changelist"), **SPANISH).content.decode()
    assert "Completada" in page and "Mensajes vistos" in page
    mailbox = Mailbox.objects.get()
    response = admin_client.post(reverse("admin:inbox_mailbox_fetch", args=[mailbox.pk]), follow=True, **SPANISH)
    page = response.content.decode()
    assert "Proveedores: lectura del buzón en cola." in page, page[page.find("messagelist") :][:400]


# -- formats ------------------------------------------------------------------------------------


def render(template: str, **context) -> str:
    return Template(template).render(Context(context))


def test_chilean_dates_and_numbers_under_es_cl():
    day = dt.date(2026, 11, 22)
    moment = dt.datetime(2026, 11, 22, 15, 30)  # noqa: DTZ001 - a naive wall time is what the format renders
    with translation.override("es-cl"):
        assert render("{{ day }}", day=day) == "22-11-2026"
        assert render("{{ day|date:'SHORT_DATE_FORMAT' }}", day=day) == "22-11-2026"
        assert formats.date_format(moment, "DATETIME_FORMAT") == "22-11-2026 15:30"
        assert formats.number_format(1234567.5, decimal_pos=2, force_grouping=True) == "1.234.567,50"
        assert clp(1_234_567) == "$1.234.567"
    with translation.override("en"):
        assert render("{{ day }}", day=day) == "Nov. 22, 2026"
        assert clp(1_234_567) == "$1.234.567"  # CLP: no decimals, "." for thousands in every language
    assert clp(-1_500) == "-$1.500" and clp(0) == "$0" and clp(None) == "-"


# -- commands -----------------------------------------------------------------------------------


def test_commands_print_in_the_sites_language_and_clock(db, settings):
    """pipeline_status speaks LANGUAGE_CODE and shows times in TIME_ZONE; its JSON carries the offset."""
    import io
    import json

    from django.core.management import call_command

    mailbox = Mailbox.objects.create(name="proveedores")
    FetchRun.objects.create(
        mailbox=mailbox,
        status=FetchRun.Status.FAILED,
        created_at=dt.datetime(2026, 12, 2, 14, 30, tzinfo=dt.UTC),  # 11:30 in Santiago (-03 in summer)
    )
    settings.LANGUAGE_CODE = "es"
    out = io.StringIO()
    call_command("pipeline_status", stdout=out)
    assert "proveedores, lectura del 02-12-2026 11:30: Fallida" in out.getvalue(), out.getvalue()
    assert "run" not in out.getvalue()
    settings.LANGUAGE_CODE = "en"
    out = io.StringIO()
    call_command("pipeline_status", stdout=out)
    assert "proveedores, read of Dec. 2, 2026, 11:30: Failed" in out.getvalue(), out.getvalue()
    out = io.StringIO()
    call_command("pipeline_status", "--json", stdout=out)
    assert json.loads(out.getvalue())["recent_runs"][0]["created_at"] == "2026-12-02T11:30:00-03:00"
