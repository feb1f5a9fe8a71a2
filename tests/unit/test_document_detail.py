"""A document's page explains it: its references spelled out (the cited document's type, why it is
cited) and linked both ways within its mailbox only; the mails and XML files that carried it; its XML,
the supplier's PDF and our printable, each named; and the XML attachment's page links back to the
documents in it, only to those of its own mailbox.

Documents come through the real pipeline; references to documents that are not tax documents (an
order, a service entry sheet) and a forged cross-mailbox link are added as rows afterwards."""

from __future__ import annotations

import html
import re
from datetime import date
from pathlib import Path

import pytest
from django.urls import reverse

from pipeline import samples
from tests.support.inline import process_folder, process_mailbox
from tests.support.mailbox_pair import clerk_of
from webapp.documents.models import Document, DocumentReference, DocumentSource
from webapp.inbox.models import Attachment, Mailbox

pytestmark = pytest.mark.django_db

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-CL,es;q=0.9"}
ISSUER_RUT = samples.valid_rut(76354771)
SENDER = "facturacion@proveedora.cl"


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _xml_mail(subject: str, filename: str, xml: bytes) -> bytes:
    return samples.supplier_email(subject=subject, sender=SENDER, attachments=[(filename, "application/xml", xml)])


class Month:
    """Norte: invoice 170 (XML and the supplier's PDF in one mail, resent alone in another) and credit
    note 88 that voids it (XML only), which also cites an order and a service entry sheet. Sur: its own
    invoice 170 of the same issuer, which norte's note must never link to."""

    def __init__(self, tmp_path: Path) -> None:
        invoice = samples.dte_xml(issuer_rut=ISSUER_RUT, folio=170)
        note = samples.dte_xml(
            issuer_rut=ISSUER_RUT,
            doc_type=61,
            folio=88,
            reference=samples.Reference(folio=170, issue_date=date(2024, 5, 14)),
        )
        mails = (
            samples.supplier_email(subject="Factura 170", sender=SENDER, issuer_rut=ISSUER_RUT, folio=170, xml=invoice),
            _xml_mail("Reenvío factura 170", "DTE_170_reenvio.xml", invoice),
            _xml_mail("Nota de crédito 88", "DTE_61_88.xml", note),
        )
        process_folder(tmp_path / "norte", mails, name="norte", why="every document is recorded")
        folder = tmp_path / "sur"
        folder.mkdir()
        (folder / "01.eml").write_bytes(_xml_mail("Factura 170", "DTE_170.xml", invoice))
        self.sur = Mailbox.objects.create(name="sur", settings={"path": str(folder)})
        assert process_mailbox(self.sur).raised == []
        self.norte = Mailbox.objects.get(name="norte")
        self.invoice = Document.objects.get(mailbox=self.norte, doc_type=33, folio=170)
        self.note = Document.objects.get(mailbox=self.norte, doc_type=61, folio=88)
        self.sur_invoice = Document.objects.get(mailbox=self.sur, doc_type=33, folio=170)
        self.xml = Attachment.objects.get(
            message__mailbox=self.norte, message__subject="Factura 170", filename__endswith=".xml"
        )
        self.pdf = Attachment.objects.get(
            message__mailbox=self.norte, filename__endswith=".pdf", message__subject="Factura 170"
        )
        rows = (("801", "OC-4500123", None, ""), ("HES", "1000123", None, ""), ("33", "170", 3, "forged"))
        for line, (ref_type, folio, code, reason) in enumerate(rows, start=2):
            DocumentReference.objects.create(
                document=self.note, line=line, ref_type=ref_type, ref_folio=folio, code=code, reason=reason
            )
        # a reference that points into another mailbox, as no code of ours writes it: never a link
        DocumentReference.objects.filter(document=self.note, line=4).update(target=self.sur_invoice)


@pytest.fixture
def month(tmp_path):
    return Month(tmp_path)


def page(client, obj) -> str:
    response = client.get(change_url(obj), **SPANISH)
    assert response.status_code == 200
    return response.content.decode()


def cells(body: str, field: str) -> list[str]:
    """The text of the table cells of one field, in page order."""
    found = re.findall(rf'<td class="field-{field}">(.*?)</td>', body, flags=re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in found]


def block(body: str, css_class: str) -> str:
    match = re.search(rf'<ul class="{css_class}"[^>]*>(.*?)</ul>', body, flags=re.S)
    assert match, f"no {css_class} on the page"
    return match.group(1)


def test_references_are_spelled_out_and_linked_within_the_mailbox(admin_client, month):
    body = page(admin_client, month.note)
    assert cells(body, "type_display") == [
        "33 Factura electrónica",
        "801 Orden de compra",
        "HES Hoja de entrada de servicios (HES)",
        "33 Factura electrónica",
    ]
    assert cells(body, "reason_display") == ["1: anula el documento", "-", "-", "3: corrige montos"]
    assert cells(body, "ref_folio") == ["170", "OC-4500123", "1000123", "170"]
    assert cells(body, "target_link") == ["Factura electrónica N° 170", "-", "-", "no recibido"]
    assert f'href="{change_url(month.invoice)}"' in body
    assert change_url(month.sur_invoice) not in body


def test_the_cited_document_lists_who_cites_it_and_why(admin_client, month):
    body = page(admin_client, month.invoice)
    assert "field-type_display" not in body, "an invoice that cites nothing shows no empty references table"
    cited_by = block(body, "referenced-by")
    assert f'href="{change_url(month.note)}"' in cited_by
    assert "Nota de crédito electrónica N° 88</a>: 1: anula el documento" in html.unescape(cited_by)
    # sur's invoice of the same key is cited by no document of sur: norte's note is not listed there
    body = page(admin_client, month.sur_invoice)
    assert 'class="referenced-by"' not in body and change_url(month.note) not in body


def test_the_copies_name_the_mail_that_carried_each(admin_client, month):
    body = page(admin_client, month.invoice)
    copies = cells(body, "attachment_link")
    assert len(copies) == 2
    (first,) = (copy for copy in copies if copy.startswith(month.xml.filename))
    (resent,) = (copy for copy in copies if copy.startswith("DTE_170_reenvio.xml"))
    assert (
        first.startswith(month.xml.filename)
        and "Factura 170" in first
        and f"enviado por Proveedora Austral SpA <{SENDER}>" in first
    )
    assert "Reenvío factura 170" in resent and f"<{SENDER}>" in resent
    for source in DocumentSource.objects.filter(document=month.invoice).select_related("attachment__message"):
        assert f'href="{change_url(source.attachment)}"' in body
        assert f'href="{change_url(source.attachment.message)}"' in body
    assert len(cells(body, "arrival")) == 2 and all(cells(body, "ted_display"))  # the checks stay


def test_the_files_are_named_and_linked(admin_client, month):
    files = html.unescape(block(page(admin_client, month.invoice), "document-files"))
    assert (
        f'<strong>XML original</strong>: <a href="{reverse("documents:xml_download", args=[month.invoice.pk])}">'
        in files
    )
    assert f'href="{change_url(month.xml)}">adjunto {month.xml.filename}</a>' in files
    assert "<strong>PDF del proveedor</strong>" in files
    assert f'href="{reverse("inbox:attachment_download", args=[month.pdf.pk])}"' in files
    assert f'href="{change_url(month.pdf)}">adjunto {month.pdf.filename}</a>' in files
    assert "<strong>Representación impresa (nuestra)</strong>" in files
    assert f'href="{reverse("documents:printable_download", args=[month.invoice.pk])}"' in files

    note_files = html.unescape(block(page(admin_client, month.note), "document-files"))
    assert "<strong>PDF del proveedor</strong>: El correo no traía uno." in note_files
    assert "inbox:attachment_download" not in note_files and "/attachments/" not in note_files


def test_the_xml_attachment_links_to_its_documents_of_its_mailbox_only(client, month):
    # a copy row that ties norte's file to sur's document, as no code of ours writes it
    DocumentSource.objects.create(document=month.sur_invoice, attachment=month.xml)
    client.force_login(clerk_of(month.norte))
    body = page(client, month.xml)
    documents = block(body, "attachment-documents")
    assert "Documentos en este archivo" in body
    assert f'href="{change_url(month.invoice)}">Factura electrónica N° 170</a>' in documents
    assert change_url(month.sur_invoice) not in body
    pdf_documents = block(page(client, month.pdf), "attachment-documents")
    assert f'href="{change_url(month.invoice)}"' in pdf_documents

    sur_file = Attachment.objects.get(message__mailbox=month.sur, filename="DTE_170.xml")
    assert client.get(change_url(sur_file)).status_code in (302, 404)  # the admin's answer to a row it hides
    client.force_login(clerk_of(month.sur, username="sur-clerk"))
    assert f'href="{change_url(month.sur_invoice)}"' in block(page(client, sur_file), "attachment-documents")
    assert client.get(change_url(month.xml)).status_code in (302, 404)
