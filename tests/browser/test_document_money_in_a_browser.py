"""An accountant's laptop (es-CL, 1366 x 768) reads the Document list with its totals bar and a
document's money page in a real browser, with no sideways scrolling. Screenshots go to test-artifacts/.
Needs chromium (`apt-get install -y chromium`); skipped, saying so, where none is installed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from tests.support.browser_pages import ARTIFACTS, PASSWORD, logged_in_page, no_sideways_scroll
from tests.unit.test_document_money_pages import Books

pytestmark = [pytest.mark.slow]


def test_the_accountant_reads_the_totals_and_a_documents_money(browser, transactional_db, server):
    ARTIFACTS.mkdir(exist_ok=True)
    books = Books()
    User.objects.create_superuser("contadora", "c@b.cl", PASSWORD)
    page = logged_in_page(browser, server, "contadora")

    page.goto(f"{server.url}/admin/documents/document/")
    bar = page.locator("#totals-bar").inner_text()
    page.screenshot(path=str(ARTIFACTS / "document-totals-es.png"), full_page=True)
    assert "Total" in bar and "$33.058.100" in bar and "1 guía no sumada" in bar
    assert "US$ 28.689,40 en documentos en dólares" in bar
    assert page.locator("#result_list tbody tr").count() == 5
    no_sideways_scroll(page)

    page.goto(f"{server.url}/admin/documents/document/{books.invoice.pk}/change/")
    content = page.locator("#content").inner_text()
    page.screenshot(path=str(ARTIFACTS / "document-money-es.png"), full_page=True)
    assert "Cedida a Factoring Secreto" in content and "Aceite de oliva extra virgen 5 L" in content
    no_sideways_scroll(page)

    page.goto(f"{server.url}/admin/documents/document/{books.dollars.pk}/change/")
    content = page.locator("#content").inner_text()
    page.screenshot(path=str(ARTIFACTS / "document-dollars-es.png"), full_page=True)
    assert "No cuadra" in content and "US$ 28.689,40" in content
    no_sideways_scroll(page)
    page.context.close()
