"""Every admin list fits an accountant's laptop: at 1366 x 768, with the admin's navigation sidebar open,
in Spanish and in English, no changelist scrolls sideways, even with 120-character supplier names and
long file names; cut names keep their whole text on hover. Screenshots go to test-artifacts/.
Needs chromium (`apt-get install -y chromium`); skipped, saying so, where none is installed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from pipeline import samples
from tests.support.browser_pages import ARTIFACTS, PASSWORD, WIDTH, logged_in_page
from tests.support.inline import process_mailbox
from tests.support.response_cases import respuesta_dte
from webapp.documents.models import Document
from webapp.inbox.models import Mailbox, MailboxAccess
from webapp.register.services.imports import rcv_import

pytestmark = [pytest.mark.slow]

LONG_NAME = ("Sociedad Comercializadora e Importadora de Insumos Agrícolas, Forestales y Mineros del Sur Austral ")[
    :100
] + "Limitada y Compañía"
LONG_FILE = "Factura_electronica_afecta_folio_4321_emitida_por_sociedad_comercializadora_del_sur_austral_limitada"
RECEIVER = "76086428-5"

#: The changelists an accountant opens, by their admin URL name.
CHANGELISTS = (
    "admin:documents_document_changelist",
    "admin:inbox_attachment_changelist",
    "admin:inbox_mailmessage_changelist",
    "admin:inbox_fetchrun_changelist",
    "admin:inbox_blob_changelist",
    "admin:inbox_mailbox_changelist",
    "admin:inbox_mailboxaccess_changelist",
    "admin:documents_xmlclassification_changelist",
    "admin:documents_documentline_changelist",
    "admin:documents_documentresponse_changelist",
    "admin:register_rcventry_changelist",
    "admin:register_rcvimport_changelist",
)


def _register_csv(name: str) -> bytes:
    header = (
        "Nro;Tipo Doc;Tipo Compra;RUT Proveedor;Razon Social;Folio;Fecha Docto;Fecha Recepcion;Fecha Reclamo;"
        "Monto Exento;Monto Neto;Monto IVA Recuperable;Monto Iva No Recuperable;Codigo IVA No Rec.;Monto Total"
    )
    row = f"1;33;Del Giro;{samples.DEFAULT_ISSUER_RUT};{name};4321;14/05/2024;14/05/2024 21:58:49;null;0;100;19;;;119"
    return f"{header}\n{row}\n".encode()


def long_named_books(folder: Path) -> Mailbox:
    """A mailbox read through the pipeline whose supplier, subject, sender and files have long names,
    with an answer, a credit note, a failed run, an access and an imported purchase register."""
    folder.mkdir()
    invoice = samples.dte_xml(folio=4321, issuer_name=LONG_NAME, envelope=False)
    note = samples.dte_xml(
        doc_type=61,
        folio=88,
        issuer_name=LONG_NAME,
        envelope=False,
        reference=samples.Reference(folio=4321, issue_date=samples.Dte().issue_date),
    )
    pdf = samples.invoice_pdf(issuer_name=LONG_NAME, folio=4321, total=119)
    mails = (
        [(f"{LONG_FILE}.xml", "application/xml", invoice), (f"{LONG_FILE}.pdf", "application/pdf", pdf)],
        [(f"Nota_de_credito_{LONG_FILE}.xml", "application/xml", note)],
        [(f"Respuesta_{LONG_FILE}.xml", "application/xml", respuesta_dte())],
    )
    for number, attachments in enumerate(mails, start=1):
        (folder / f"{number:02d}.eml").write_bytes(
            samples.supplier_email(
                sender="facturacion.electronica.automatica@sociedad-comercializadora-del-sur-austral.cl",
                subject=f"Envío de documento tributario electrónico de {LONG_NAME} número {number}",
                issuer_name=LONG_NAME,
                attachments=attachments,
            )
        )
    mailbox = Mailbox.objects.create(
        name="Facturas de proveedores de la casa matriz y sucursales", settings={"path": str(folder)}
    )
    assert process_mailbox(mailbox).raised == []
    assert Document.objects.filter(issuer_name=LONG_NAME).count() == 2
    clerk = User.objects.create_user("asistente.contable.sucursal.puerto.montt@empresa.cl", password="x")
    MailboxAccess.objects.create(mailbox=mailbox, user=clerk)
    rcv_import(
        io.BytesIO(_register_csv(LONG_NAME)),
        filename=f"RCV_COMPRA_REGISTRO_{RECEIVER}_202405.csv",
        mailbox=mailbox,
    )
    return mailbox


def _sideways(page) -> list[str]:
    """What scrolls sideways: the page itself, or a box inside it (the admin scrolls a wide table in its box)."""
    found = []
    width = page.evaluate("document.scrollingElement.scrollWidth")
    if width > page.evaluate("window.innerWidth"):
        found.append(f"the page ({width} px)")
    found += page.evaluate(
        "() => [...document.querySelectorAll('#changelist .results, #changelist-filter, #toolbar')]"
        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => `${e.id || e.className} (${e.scrollWidth} px)`)"
    )
    return found


@pytest.mark.parametrize("locale", ["es-CL", "en-US"])
def test_every_list_fits_1366_px_with_the_sidebar_open(browser, transactional_db, server, tmp_path, locale):
    ARTIFACTS.mkdir(exist_ok=True)
    long_named_books(tmp_path / "mail")
    User.objects.create_superuser("contadora", "c@b.cl", PASSWORD)
    page = logged_in_page(browser, server, "contadora", locale=locale)
    overflowing = {}
    for name in CHANGELISTS:
        page.goto(server.url + reverse(name))
        assert page.locator("#nav-sidebar").is_visible(), "the navigation sidebar is open"
        rows = page.locator("#result_list tbody tr").count()
        assert rows >= 1, f"{name} lists no row"
        page.screenshot(path=str(ARTIFACTS / f"list-{name.split(':')[1]}-{locale}.png"), full_page=True)
        if found := _sideways(page):
            overflowing[name] = found
    assert overflowing == {}, f"these lists scroll sideways at {WIDTH} px: {overflowing}"

    page.goto(server.url + reverse("admin:documents_document_changelist"))
    cut = page.locator("#result_list td.field-issuer_display [title]").first
    assert cut.get_attribute("title") == LONG_NAME, "the cut name keeps its whole on hover"
    assert cut.evaluate("e => e.scrollWidth > e.clientWidth"), "the name is cut by the column, not by the page"
    page.context.close()
