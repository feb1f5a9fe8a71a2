"""An accountant (es-CL, 1366 x 768) filters the Document list, searches it, clicks "Exportar a Excel"
and "Exportar CSV", saves both downloads and opens them: they hold the filtered rows, nothing else.
Screenshots go to test-artifacts/. Needs chromium; skipped, saying so, where none is installed."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import User
from openpyxl import load_workbook

from tests.support.browser_pages import ARTIFACTS, PASSWORD, logged_in_page, no_sideways_scroll
from tests.unit.test_document_money_pages import Books

pytestmark = [pytest.mark.slow]


def _saved(page, button: str, name: str):
    with page.expect_download() as download_info:
        page.click(button)
    download = download_info.value
    path = ARTIFACTS / name
    download.save_as(path)
    return download, path


def test_the_accountant_exports_the_filtered_list_to_excel_and_csv(browser, transactional_db, server):
    ARTIFACTS.mkdir(exist_ok=True)
    Books()
    User.objects.create_superuser("contadora", "c@b.cl", PASSWORD)
    page = logged_in_page(browser, server, "contadora")

    page.goto(f"{server.url}/admin/documents/document/")
    assert page.locator("#result_list tbody tr").count() == 5
    page.click('#changelist-filter a[href*="kind=invoice"]')
    page.wait_for_url("**kind=invoice**")
    page.fill("#searchbar", "Austral")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**q=Austral**")
    assert page.locator("#result_list tbody tr").count() == 2, "the invoice and the one in dollars"
    excel_button, csv_button = page.locator("#export-xlsx"), page.locator("#export-csv")
    assert (excel_button.text_content(), csv_button.text_content()) == ("Exportar a Excel", "Exportar CSV")
    assert "kind=invoice" in (excel_button.get_attribute("href") or "")
    page.screenshot(path=str(ARTIFACTS / "document-export-es.png"), full_page=True)
    no_sideways_scroll(page)

    download, path = _saved(page, "#export-xlsx", "documentos-filtrados.xlsx")
    assert download.suggested_filename.startswith("documentos-") and download.suggested_filename.endswith(".xlsx")
    sheet = load_workbook(path).active
    header = [cell.value for cell in sheet[1]]
    rows = [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(row["Folio"] for row in rows) == [1, 4]
    assert {row["Razón social emisor"] for row in rows} == {"Proveedora Austral SpA"}
    assert sum(row["Total con signo"] for row in rows) == 120_000 + 27_000_000

    download, path = _saved(page, "#export-csv", "documentos-filtrados.csv")
    assert download.suggested_filename.endswith(".csv")
    data = path.read_bytes()
    assert data.startswith("\ufeff".encode())
    lines = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert sorted(line["Folio"] for line in lines) == ["1", "4"]
    assert {line["Moneda"] for line in lines} == {"CLP", "USD"}

    page.goto(f"{server.url}/admin/inbox/attachment/?q=norte")
    page.screenshot(path=str(ARTIFACTS / "attachment-export-es.png"), full_page=True)
    _download, path = _saved(page, "#export-csv", "adjuntos-filtrados.csv")
    lines = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert lines and {line["Buzón"] for line in lines} == {"norte"}
    page.context.close()
