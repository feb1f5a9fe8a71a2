"""The ZIP of selected documents holds, per document, its XML, the supplier's PDF and our printable, named
so a person tells them apart (`33-170-76354771-K.xml`, `…-proveedor.pdf`, `…-impreso.pdf`), from
validated fields only; the single downloads are named alike."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from django.core.files.storage import storages
from django.urls import reverse

from pipeline import samples
from tests.support.inline import process_mailbox
from tests.unit.test_document_detail import ISSUER_RUT, Month, _xml_mail
from webapp.documents.models import Document
from webapp.inbox.models import Mailbox

pytestmark = pytest.mark.django_db

INVOICE = f"33-170-{ISSUER_RUT}"
NOTE = f"61-88-{ISSUER_RUT}"


@pytest.fixture
def month(tmp_path):
    return Month(tmp_path)


def zip_of(client, *documents: Document) -> zipfile.ZipFile:
    response = client.post(
        reverse("admin:documents_document_changelist"),
        {"action": "download_zip", "_selected_action": [document.pk for document in documents]},
    )
    assert response.status_code == 200 and response.streaming
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def stored(name: str) -> bytes:
    with storages["default"].open(name) as handle:
        return handle.read()


def test_each_document_brings_its_xml_the_suppliers_pdf_and_our_printable(admin_client, month):
    archive = zip_of(admin_client, month.invoice, month.note)
    assert sorted(archive.namelist()) == [
        f"{INVOICE}-impreso.pdf",
        f"{INVOICE}-proveedor.pdf",
        f"{INVOICE}.xml",
        f"{NOTE}-impreso.pdf",  # the note came without the supplier's PDF: no -proveedor of it
        f"{NOTE}.xml",
    ]
    month.invoice.refresh_from_db()
    assert archive.read(f"{INVOICE}.xml") == stored(month.invoice.xml_attachment.blob.storage_name)
    assert archive.read(f"{INVOICE}-proveedor.pdf") == stored(month.pdf.blob.storage_name)
    assert archive.read(f"{INVOICE}-impreso.pdf") == stored(month.invoice.printable_name)
    assert archive.read(f"{INVOICE}-impreso.pdf") != archive.read(f"{INVOICE}-proveedor.pdf")


def test_two_mailboxes_documents_of_one_key_keep_distinct_names(admin_client, month):
    names = set(zip_of(admin_client, month.invoice, month.sur_invoice).namelist())
    second = next(d for d in (month.invoice, month.sur_invoice) if f"{INVOICE}-{d.pk}.xml" in names)
    assert {name for name in names if name.endswith(".xml")} == {f"{INVOICE}.xml", f"{INVOICE}-{second.pk}.xml"}
    assert f"{INVOICE}-{second.pk}-impreso.pdf" in names and f"{INVOICE}-impreso.pdf" in names


def test_a_document_whose_issuer_rut_is_not_a_rut_goes_under_sin_rut_with_its_id(admin_client, month, tmp_path):
    folder = tmp_path / "raro"
    folder.mkdir()
    xml = samples.dte_xml(issuer_rut="76354771-K/../../x", folio=9)
    (folder / "01.eml").write_bytes(_xml_mail("Factura 9", "DTE_9.xml", xml))
    assert process_mailbox(Mailbox.objects.create(name="raro", settings={"path": str(folder)})).raised == []
    document = Document.objects.get(folio=9)
    assert not document.issuer_rut_valid

    names = zip_of(admin_client, document).namelist()
    assert sorted(names) == [f"sin-rut/33-9-{document.pk}-impreso.pdf", f"sin-rut/33-9-{document.pk}.xml"]
    assert not any(re.search(r"\.\.|/x", name) for name in names)


def test_the_single_downloads_are_named_as_in_the_zip(admin_client, month):
    for view, filename in (
        ("documents:xml_download", f"{INVOICE}.xml"),
        ("documents:printable_download", f"{INVOICE}-impreso.pdf"),
    ):
        response = admin_client.get(reverse(view, args=[month.invoice.pk]))
        assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
