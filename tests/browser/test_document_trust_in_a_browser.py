"""An accountant's laptop (es-CL, 1366 x 768) reads the Document list with its verification marks and a
document whose copies conflict, in a real browser, with no sideways scrolling. Screenshots go to
test-artifacts/. Needs chromium (`apt-get install -y chromium`); skipped, saying so, where none is installed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from tests.support.browser_pages import ARTIFACTS, PASSWORD, logged_in_page, no_sideways_scroll
from tests.unit.test_document_trust_pages import TED_ERROR, Month

pytestmark = [pytest.mark.slow]


def test_the_accountant_sees_which_documents_to_doubt_and_why(browser, transactional_db, server, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    month = Month(tmp_path)
    User.objects.create_superuser("contadora", "c@b.cl", PASSWORD)
    page = logged_in_page(browser, server, "contadora")

    page.goto(f"{server.url}/admin/documents/document/")
    page.screenshot(path=str(ARTIFACTS / "document-trust-list-es.png"), full_page=True)
    assert page.locator("th.column-trust_display").text_content().strip() == "Verificación"
    conflict = page.locator("#result_list tbody tr", has_text="1234").locator("td.field-trust_display .trust")
    assert conflict.get_attribute("title") == "Copias en conflicto. Timbre válido. Firma inválida"
    assert conflict.inner_text() == "✓⚠"
    assert page.locator("#result_list tbody tr").count() == 5
    no_sideways_scroll(page)

    page.goto(f"{server.url}/admin/documents/document/{month.conflict.pk}/change/")
    page.screenshot(path=str(ARTIFACTS / "document-trust-conflict-es.png"), full_page=True)
    warning = page.locator("#copies-conflict")
    assert "Este documento llegó en copias que no coinciden: revise cuál es la auténtica." in warning.inner_text()
    assert warning.locator("table.copies-conflict tbody tr").count() == 3
    copies = page.locator(".document-copies").inner_text()
    assert "Timbre inválido" in copies and TED_ERROR in copies and "Firma inválida" in copies
    no_sideways_scroll(page)
    page.context.close()
