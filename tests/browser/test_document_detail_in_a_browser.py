"""An accountant's laptop (es-CL, 1366 x 768) reads a credit note's page: what it cites and why, in words,
linked to the invoice it voids; the invoice's page says who cites it, names its files and the mails that
brought it; its XML's page links back. No sideways scrolling. Screenshots go to test-artifacts/.
Needs chromium (`apt-get install -y chromium`); skipped, saying so, where none is installed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from tests.support.browser_pages import ARTIFACTS, PASSWORD, logged_in_page, no_sideways_scroll
from tests.unit.test_document_detail import Month
from webapp.documents.models import Document

pytestmark = [pytest.mark.slow]


def test_the_accountant_follows_a_credit_note_to_the_invoice_and_its_files(browser, transactional_db, server, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    month = Month(tmp_path)
    User.objects.create_superuser("contadora", "c@b.cl", PASSWORD)
    page = logged_in_page(browser, server, "contadora")

    page.goto(f"{server.url}/admin/documents/document/{month.note.pk}/change/")
    page.screenshot(path=str(ARTIFACTS / "document-detail-note-es.png"), full_page=True)
    first = page.locator("td.field-type_display").first.locator("xpath=..")
    assert first.locator("td.field-type_display").inner_text() == "33 Factura electrónica"
    assert first.locator("td.field-reason_display").inner_text() == "1: anula el documento"
    assert "801 Orden de compra" in page.locator(".field-type_display").all_inner_texts()
    assert "PDF del proveedor: El correo no traía uno." in page.locator("ul.document-files").inner_text()
    no_sideways_scroll(page)

    first.locator("td.field-target_link a").click()
    page.wait_for_url(f"**/admin/documents/document/{month.invoice.pk}/change/")
    page.screenshot(path=str(ARTIFACTS / "document-detail-invoice-es.png"), full_page=True)
    assert page.locator("ul.referenced-by").inner_text() == "Nota de crédito electrónica N° 88: 1: anula el documento"
    files = page.locator("ul.document-files").inner_text()
    assert "XML original" in files and "PDF del proveedor" in files and "Representación impresa (nuestra)" in files
    # its printable was never drawn: the page's thumbnail draws it on this first request
    page.wait_for_function("() => [...document.querySelectorAll('.field-preview img')].every(i => i.complete)")
    assert page.evaluate(
        "() => { const i = document.querySelector('.field-preview img'); return !!i && i.naturalWidth > 0; }"
    ), "the printable's thumbnail is a real image"
    month.invoice.refresh_from_db()
    assert month.invoice.printable_status == Document.PrintableStatus.READY
    copies = page.locator(".document-copies td.field-attachment_link").all_inner_texts()
    assert len(copies) == 2 and all("enviado por Proveedora Austral SpA" in copy for copy in copies)
    no_sideways_scroll(page)

    page.locator("li.files-xml a", has_text="adjunto").click()
    page.wait_for_url(f"**/admin/inbox/attachment/{month.xml.pk}/change/")
    page.screenshot(path=str(ARTIFACTS / "document-detail-xml-attachment-es.png"), full_page=True)
    assert page.locator("ul.attachment-documents").inner_text().startswith("Factura electrónica N° 170")
    no_sideways_scroll(page)
    page.context.close()
