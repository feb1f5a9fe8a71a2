"""An accountant's laptop (es-CL, 1366 x 768) reads the Document list with its totals bar and a
document's money page in a real browser, with no sideways scrolling. Screenshots go to test-artifacts/.
Needs chromium (`apt-get install -y chromium`); skipped, saying so, where none is installed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from pipeline.config import BASE_DIR
from tests.browser.test_admin_in_a_browser import CHROMIUM_ARGS
from tests.support import needs
from tests.unit.test_document_money_pages import Books

pytestmark = [pytest.mark.slow]

ARTIFACTS = BASE_DIR / "test-artifacts"
PASSWORD = "browser-Secret-pass-42"
WIDTH, HEIGHT = 1366, 768


@pytest.fixture(scope="module")
def browser():
    executable = needs.chromium()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's ORM calls are plain sync code.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def server(request, settings):
    """pytest-django's live server; it needs a MEDIA_URL (ours has none: documents are not media files)."""
    settings.MEDIA_URL = "/media/"
    return request.getfixturevalue("live_server")


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth"), f"the page is {width} px wide at {WIDTH} px"
    # the admin scrolls a wide table inside its box: that is sideways scrolling too
    boxes = page.evaluate(
        "() => [...document.querySelectorAll('.results, .tabular, fieldset')]"
        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className)"
    )
    assert boxes == [], f"these scroll sideways: {boxes}"


def test_the_accountant_reads_the_totals_and_a_documents_money(browser, transactional_db, server):
    ARTIFACTS.mkdir(exist_ok=True)
    books = Books()
    User.objects.create_superuser("contadora", "c@b.cl", PASSWORD)
    context = browser.new_context(locale="es-CL", viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{server.url}/admin/login/")
    page.fill("#id_username", "contadora")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{server.url}/admin/")

    page.goto(f"{server.url}/admin/documents/document/")
    bar = page.locator("#totals-bar").inner_text()
    page.screenshot(path=str(ARTIFACTS / "document-totals-es.png"), full_page=True)
    assert "Total" in bar and "$33.058.100" in bar and "1 guía no sumada" in bar
    assert "US$ 28.689,40 en documentos en dólares" in bar
    assert page.locator("#result_list tbody tr").count() == 5
    _no_sideways_scroll(page)

    page.goto(f"{server.url}/admin/documents/document/{books.invoice.pk}/change/")
    content = page.locator("#content").inner_text()
    page.screenshot(path=str(ARTIFACTS / "document-money-es.png"), full_page=True)
    assert "Cedida a Factoring Secreto" in content and "Aceite de oliva extra virgen 5 L" in content
    _no_sideways_scroll(page)

    page.goto(f"{server.url}/admin/documents/document/{books.dollars.pk}/change/")
    content = page.locator("#content").inner_text()
    page.screenshot(path=str(ARTIFACTS / "document-dollars-es.png"), full_page=True)
    assert "No cuadra" in content and "US$ 28.689,40" in content
    _no_sideways_scroll(page)
    context.close()
