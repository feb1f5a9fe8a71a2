"""XML attachments through the render actor: Documents, pairing, dedupe, printables, admin, downloads."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pypdfium2 as pdfium
import pytest
import zxingcpp
from django.contrib.auth.models import Permission, User
from django.core.files.storage import storages
from django.core.management import call_command
from django.urls import reverse
from PIL import Image

from pipeline import samples
from pipeline.actors import render_attachment
from pipeline.dte import parse_file
from pipeline.render.thumbnails import pdf_thumbnail
from pipeline.storage import save_spooled, spool
from tests.support import dte_files
from tests.support.printables import make_printables
from webapp.documents.models import (
    Document,
    DocumentReference,
    DocumentSource,
    XmlClassification,
)
from webapp.inbox.models import Attachment, Blob, Mailbox, MailMessage

pytestmark = pytest.mark.django_db

PDF = samples.invoice_pdf(issuer_name="Proveedora Austral SpA", folio=501, total=66_485)


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP


@pytest.fixture
def mailbox():
    return Mailbox.objects.create(name="suppliers", settings={"path": "/tmp/none"})


def store(content: bytes, content_type: str) -> Blob:
    with spool(iter([content]), max_bytes=10**8) as spooled:
        blob = Blob.objects.filter(sha256=spooled.sha256).first()
        if blob:
            return blob
        name = save_spooled(storages["default"], spooled)
        return Blob.objects.create(
            sha256=spooled.sha256, size=spooled.size, content_type=content_type, storage_name=name
        )


def mail(mailbox, *files: tuple[str, str, bytes]) -> list[Attachment]:
    """A processed message with these (filename, content type, bytes) attachments, XML marked PENDING like save_message does."""
    message = MailMessage.objects.create(
        mailbox=mailbox,
        source_id=f"m{MailMessage.objects.count()}",
        status=MailMessage.Status.PROCESSED,
        subject="Envío DTE",
    )
    out = []
    for position, (filename, content_type, data) in enumerate(files):
        blob = store(data, content_type)
        out.append(
            Attachment.objects.create(
                message=message,
                position=position,
                original_filename=filename,
                filename=filename,
                content_type=content_type,
                blob=blob,
                status=Attachment.Status.STORED,
                preview_status=Attachment.PreviewStatus.PENDING,
            )
        )
    return out


def render_all(attachments: list[Attachment]) -> None:
    for attachment in attachments:
        render_attachment(attachment.pk)  # the actor, run in this thread


def snapshot() -> dict:
    def rows(model):
        return sorted(
            tuple(v for k, v in r.items() if k not in ("updated_at", "parsed_at")) for r in model.objects.values()
        )

    return {m.__name__: rows(m) for m in (Document, DocumentSource, DocumentReference, XmlClassification)}


def test_envelope_with_three_dte_becomes_three_documents_with_every_field(mailbox):
    xml, pdf = mail(
        mailbox,
        ("EnvioDTE.xml", "application/xml", dte_files.three_dte_envelope()),
        ("Factura_501.pdf", "application/pdf", PDF),
    )
    render_all([xml, pdf])

    classification = XmlClassification.objects.get(attachment=xml)
    assert (classification.kind, classification.status, classification.document_count) == ("envelope", "parsed", 3)
    assert (classification.resolution_number, classification.resolution_date) == (99, date(2019, 3, 7))
    invoice, exempt, note = (Document.objects.get(folio=f) for f in (501, 502, 77))
    assert Document.objects.count() == 3
    assert (invoice.doc_type, invoice.type_name, invoice.folio, invoice.issue_date) == (
        33,
        "Factura electrónica",
        501,
        dte_files.INVOICE_DATE,
    )
    assert (invoice.issuer_rut, invoice.issuer_rut_valid, invoice.issuer_name) == (
        "76086428-5",
        True,
        "Proveedora Austral SpA",
    )
    assert (invoice.receiver_rut, invoice.receiver_name) == ("77500100-3", "Comercializadora Los Andes Ltda.")
    assert (invoice.net, invoice.exempt, invoice.vat, invoice.total, invoice.line_count) == (
        55_870,
        None,
        10_615,
        66_485,
        2,
    )
    assert (invoice.resolution_number, invoice.resolution_date) == (99, date(2019, 3, 7))
    assert (exempt.exempt, exempt.total, exempt.type_name) == (
        150_000,
        150_000,
        "Factura no afecta o exenta electrónica",
    )
    assert invoice.xml_attachment == xml and invoice.pdf_attachment == pdf, "the PDF named after folio 501"
    assert exempt.pdf_attachment is None and note.pdf_attachment is None, "several DTE: no guessing"
    (ref,) = note.references.all()
    assert (ref.ref_type, ref.ref_folio, ref.code, ref.target) == ("33", "501", 1, invoice)
    # an envelope's printables are drawn from the worker's one parse (on request, each would parse it all again)
    xml.refresh_from_db()
    assert (xml.preview_status, xml.preview_name) == (Attachment.PreviewStatus.READY, invoice.preview_name)
    for doc in (invoice, exempt, note):
        assert doc.printable_status == Document.PrintableStatus.READY, doc.printable_error
        assert storages["default"].exists(doc.printable_name) and storages["default"].exists(doc.preview_name)
    xml.refresh_from_db()
    assert (xml.preview_status, xml.preview_name) == (Attachment.PreviewStatus.READY, invoice.preview_name)


def test_single_pdf_pairs_by_elimination_unless_it_names_another_folio(mailbox):
    render_all(
        mail(
            mailbox, ("dte.xml", "application/xml", samples.dte_xml(folio=10)), ("factura.pdf", "application/pdf", PDF)
        )
    )
    render_all(
        mail(
            mailbox,
            ("dte.xml", "application/xml", samples.dte_xml(folio=11)),
            ("copia 1001.pdf", "application/pdf", PDF),
        )
    )
    assert Document.objects.get(folio=10).pdf_attachment.filename == "factura.pdf"
    assert Document.objects.get(folio=11).pdf_attachment is None


def test_same_invoice_in_two_emails_is_one_document_with_two_sources(mailbox):
    xml = samples.dte_xml(folio=900)
    first = mail(mailbox, ("DTE_900.xml", "application/xml", xml))
    second = mail(mailbox, ("reenvio.xml", "application/xml", xml), ("Factura_900.pdf", "application/pdf", PDF))
    render_all(first + second)
    document = Document.objects.get()
    assert sorted(document.sources.values_list("attachment_id", flat=True)) == [first[0].pk, second[0].pk]
    assert document.xml_attachment == first[0], "fields follow the first XML"
    assert document.pdf_attachment == second[1], "the PDF found in the second e-mail"


def test_credit_note_arriving_first_links_when_the_invoice_arrives(mailbox):
    note = samples.dte_xml(doc_type=61, folio=3, reference=samples.Reference(folio=700, issue_date=date(2024, 5, 1)))
    render_all(mail(mailbox, ("nc.xml", "application/xml", note)))
    assert DocumentReference.objects.get().target is None
    render_all(mail(mailbox, ("f.xml", "application/xml", samples.dte_xml(folio=700))))
    assert DocumentReference.objects.get().target == Document.objects.get(folio=700)


@pytest.mark.parametrize(
    ("data", "kind", "preview"),
    [
        (dte_files.RESPUESTA_DTE, "response", Attachment.PreviewStatus.NONE),
        (dte_files.ENVIO_RECIBOS, "receipts", Attachment.PreviewStatus.NONE),
        (b"<?xml version='1.0'?><Pedido/>", "other", Attachment.PreviewStatus.NONE),
        (dte_files.BILLION_LAUGHS, "invalid", Attachment.PreviewStatus.FAILED),
        (dte_files.EXTERNAL_ENTITY, "invalid", Attachment.PreviewStatus.FAILED),
        (dte_files.three_dte_envelope()[:3000], "invalid", Attachment.PreviewStatus.FAILED),
    ],
)
def test_non_invoices_are_labelled_and_bad_files_recorded_without_retry(mailbox, data, kind, preview):
    (xml,) = mail(mailbox, ("x.xml", "text/xml", data))
    render_attachment(xml.pk)  # returns normally: no exception, so no retry
    classification = XmlClassification.objects.get(attachment=xml)
    assert classification.kind == kind and Document.objects.count() == 0
    xml.refresh_from_db()
    assert xml.preview_status == preview
    if kind == "invalid":
        assert classification.status == "failed" and classification.error and xml.preview_error == classification.error
        assert "root:" not in classification.error


def test_invalid_rut_is_kept_and_flagged(mailbox):
    render_all(mail(mailbox, ("d.xml", "application/xml", samples.dte_xml(issuer_rut=dte_files.WRONG_RUT))))
    document = Document.objects.get()
    assert (document.issuer_rut, document.issuer_rut_valid) == ("76086428-3", False)
    assert "should end in -5" in document.issuer_rut_error


def test_processing_twice_gives_the_same_rows_and_files(mailbox):
    attachments = mail(
        mailbox,
        ("e.xml", "application/xml", dte_files.three_dte_envelope()),
        ("Factura_501.pdf", "application/pdf", PDF),
    )
    render_all(attachments)
    before = snapshot()
    call_command("reprocess_documents", "--sync")
    render_attachment(attachments[0].pk)  # a duplicate delivery changes nothing either
    assert snapshot() == before
    files = sorted(storages["default"].listdir("printables")[0])
    assert {d.printable_status for d in Document.objects.all()} == {Document.PrintableStatus.READY}, (
        "an envelope's printables are drawn by the worker"
    )
    call_command("reprocess_documents", "--sync")  # a parser change: each printable is drawn again
    assert {d.printable_status for d in Document.objects.all()} == {Document.PrintableStatus.READY}
    assert sorted(storages["default"].listdir("printables")[0]) == files, "the same bytes under the same names"


def test_reprocess_since_only_touches_newer_attachments(mailbox):
    (old,) = mail(mailbox, ("a.xml", "application/xml", samples.dte_xml(folio=1)))
    render_all([old])
    Attachment.objects.filter(pk=old.pk).update(created_at="2020-01-01T00:00:00Z")
    (new,) = mail(mailbox, ("b.xml", "application/xml", samples.dte_xml(folio=2)))
    render_all([new])
    Document.objects.update(issuer_name="stale")
    call_command("reprocess_documents", "--sync", "--since", "2024-01-01")
    assert dict(Document.objects.values_list("folio", "issuer_name")) == {1: "stale", 2: "Proveedora Austral SpA"}


def test_printable_pdf_text_and_pdf417_hold_the_document(mailbox):
    xml = dte_files.bare_windows_1252()
    render_all(mail(mailbox, ("d.xml", "application/xml", xml)))
    (document,) = make_printables()
    parsed = parse_file(xml).documents[0]
    with storages["default"].open(document.printable_name) as handle:
        pdf = pdfium.PdfDocument(handle.read())
    page = pdf[0]
    text = page.get_textpage().get_text_range()
    for expected in (
        "R.U.T.: 76.086.428-5",
        "FACTURA ELECTRÓNICA",
        "N° 4321",
        "Distribuidora Ñuble S.A.",
        "Panadería Ñandú Ltda.",
        "77.500.100-3",
        "Azúcar granulada",
        "Señalética «Salida»",
        "$12.900",
        "Timbre Electrónico SII",
        "Verifique documento: www.sii.cl",
    ):
        assert expected in text, expected
    assert "Res. - - Verifique" in text, "a bare DTE has no Caratula, so no resolution"
    image = page.render(scale=4).to_pil()
    barcodes = zxingcpp.read_barcodes(image)
    assert [b.format for b in barcodes] == [zxingcpp.BarcodeFormat.PDF417]
    assert barcodes[0].bytes == parsed.ted and barcodes[0].bytes.startswith(b"<TED")
    page.close()
    pdf.close()


def test_the_printables_thumbnail_is_its_first_page_as_a_file_of_it_draws_it(mailbox, tmp_path):
    render_all(mail(mailbox, ("d.xml", "application/xml", dte_files.bare_windows_1252())))
    (document,) = make_printables()
    with storages["default"].open(document.printable_name) as handle:
        printable = tmp_path / "printable.pdf"
        printable.write_bytes(handle.read())
    with storages["default"].open(document.preview_name) as handle:
        thumbnail = Image.open(io.BytesIO(handle.read()))
    from_file = Image.open(io.BytesIO(pdf_thumbnail(printable)))
    assert thumbnail.size == from_file.size and thumbnail.size[0] == 320
    assert thumbnail.convert("RGB").tobytes() == from_file.convert("RGB").tobytes()


def test_printable_shows_the_resolution_of_the_envelope(mailbox):
    render_all(mail(mailbox, ("e.xml", "application/xml", dte_files.three_dte_envelope())))
    (note,) = make_printables(Document.objects.filter(folio=77))
    with storages["default"].open(note.printable_name) as handle:
        pdf = pdfium.PdfDocument(handle.read())
    text = pdf[0].get_textpage().get_text_range()
    assert "Res. 99 de 2019 - Verifique documento: www.sii.cl" in text
    assert "NOTA DE CRÉDITO ELECTRÓNICA" in text and "Factura electrónica N° 501 del 02-05-2024" in text
    pdf.close()


# -- web ------------------------------------------------------------------------------------


@pytest.fixture
def staff(client):
    user = User.objects.create_user("ana", password="x", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_document"), Permission.objects.get(codename="view_all_mailboxes")
    )  # not limited to some mailboxes
    client.force_login(user)
    return client


@pytest.fixture
def documents(mailbox):
    render_all(
        mail(
            mailbox,
            ("EnvioDTE.xml", "application/xml", dte_files.three_dte_envelope()),
            ("Factura_501.pdf", "application/pdf", PDF),
        )
    )
    render_all(mail(mailbox, ("b.xml", "application/xml", dte_files.bare_windows_1252())))
    return {d.folio: d for d in Document.objects.all()}


def test_admin_list_shows_documents_with_clp_totals_and_filters(staff, documents):
    url = reverse("admin:documents_document_changelist")
    page = staff.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "$66.485" in body and "Distribuidora Ñuble S.A." in body and "76.086.428-5" in body
    assert reverse("documents:preview", args=[documents[501].pk]) in body

    def folios(**params):
        return sorted(d.folio for d in staff.get(url, params).context["cl"].result_list)

    assert folios(doc_type=61) == [77]
    assert folios(issuer="76086428-5") == [77, 501, 502, 4321]
    assert folios(issue_date_from="2024-05-03", issue_date_to="2024-05-10") == [77]
    assert folios(issue_date_from="2024-05-14") == [4321]
    assert folios(printable_status="ready") == [77, 501, 502], "an envelope's, drawn from the worker's parse"
    assert folios(printable_status="on_request") == [4321], "a lone DTE's, made on its first request"
    assert folios(q="4321") == [4321]
    assert folios(q="76.086.428-5") == [77, 501, 502, 4321]
    assert folios(q="77500100") == [77, 501, 502, 4321]
    assert folios(q="Ñuble") == [4321]


def test_admin_detail_links_every_file_and_is_read_only(staff, documents):
    invoice = documents[501]
    page = staff.get(reverse("admin:documents_document_change", args=[invoice.pk]))
    body = page.content.decode()
    for url in (
        reverse("documents:xml_download", args=[invoice.pk]),
        reverse("documents:printable_download", args=[invoice.pk]),
        reverse("inbox:attachment_download", args=[invoice.pdf_attachment_id]),
        reverse("documents:preview", args=[invoice.pk]),
    ):
        assert url in body
    assert "Nota de crédito electrónica No. 77" in body, "the note that corrects it"
    assert 'name="_save"' not in body
    assert staff.get(reverse("admin:documents_document_add")).status_code == 403


def test_downloads_need_staff_and_permission(client, staff, documents):
    invoice = documents[501]
    printable = staff.get(reverse("documents:printable_download", args=[invoice.pk]))
    assert printable.status_code == 200 and b"".join(printable.streaming_content).startswith(b"%PDF")
    assert 'filename="33-501-76086428-5-impreso.pdf"' in printable["Content-Disposition"]
    xml = staff.get(reverse("documents:xml_download", args=[invoice.pk]))
    assert b"".join(xml.streaming_content) == dte_files.three_dte_envelope()
    client.logout()
    assert client.get(reverse("documents:xml_download", args=[invoice.pk])).status_code == 302
    nobody = User.objects.create_user("bob", password="x", is_staff=True)
    client.force_login(nobody)
    assert client.get(reverse("documents:xml_download", args=[invoice.pk])).status_code == 403


def test_zip_action_streams_the_selection_by_issuer(staff, documents):
    selected = [documents[501].pk, documents[77].pk, documents[4321].pk]
    response = staff.post(
        reverse("admin:documents_document_changelist"), {"action": "download_zip", "_selected_action": selected}
    )
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    chunks = list(response.streaming_content)
    assert len(chunks) > 1
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == [
        "33-4321-76086428-5-impreso.pdf",
        "33-4321-76086428-5.xml",
        "33-501-76086428-5-impreso.pdf",
        "33-501-76086428-5-proveedor.pdf",
        "33-501-76086428-5.xml",
        "61-77-76086428-5-impreso.pdf",
        "61-77-76086428-5.xml",
    ]
    assert archive.read("33-4321-76086428-5.xml") == dte_files.bare_windows_1252()
    documents[501].refresh_from_db()  # its printable was made for the ZIP
    assert documents[501].printable_status == Document.PrintableStatus.READY
    with storages["default"].open(documents[501].printable_name) as handle:
        assert archive.read("33-501-76086428-5-impreso.pdf") == handle.read()
    assert archive.read("33-501-76086428-5-proveedor.pdf") == PDF
