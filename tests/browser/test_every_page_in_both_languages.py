"""Every page an accountant can open, in es-CL and in English, with data on it: no word of the other
language is left over, nothing names Django or our machinery, and the header names the product.

A superuser logs in after a month of mail went through the real pipeline (test_reconcile's `month`);
the crawl opens every admin list, one row of each, the index, the dashboard, the dead letters and the
reconciliation. Screenshots go to test-artifacts/. Needs chromium (`apt-get install -y chromium`)."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import NoReverseMatch, reverse

from tests.support.browser_pages import ARTIFACTS, PASSWORD, laptop_page, log_in
from tests.unit.test_reconcile import month  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slow]

#: Words that give away a page's other language, or machinery nobody should read about (whole words,
#: case as written). Row data (names, subjects, stored error texts) is the supplier's or stays English,
#: so the words are the labels our pages print.
LEFTOVERS = {
    "es": (
        "Django",
        "worker",
        "Dramatiq",
        "actor",
        "run #",
        "Completed",
        "completed",
        "Running",
        "running",
        "Pending",
        "Queued",
        "Failed",
        "Fetch",
        "View site",
        "Home",
        "Mailbox",
        "Attachments",
        "Documents",
        "Download",
        "Yes",
    ),
    "en": (
        "Django",
        "worker",
        "Dramatiq",
        "run #",
        "Buzón",
        "Documentos",
        "Casillas",
        "Adjuntos",
        "pendiente",
        "Pendiente",
        "lectura",
        "Completada",
        "Fallida",
        "Descargar",
        "Leer ahora",
        "Inicio",
    ),
}
PRODUCT = {"es": "Buzón de facturas", "en": "Invoice mail"}
LOCALES = {"es": "es-CL", "en": "en-US"}
#: Pages worth a look by eye, by their path.
SCREENSHOTS = ("/admin/", "/admin/pipeline/", "/admin/inbox/fetchrun/", "/admin/inbox/mailbox/")


#: What each page is checked on, read in one round trip to the browser: its title and text, the
#: header's product name, and how many of the user tools link to a "site" (Django's "View site").
_READ_PAGE = """() => [
    document.title + "\\n" + document.body.innerText,
    document.querySelector("#site-name").innerText,
    [...document.querySelectorAll("#user-tools a")].filter(a => /site|sitio/i.test(a.innerText)).length,
]"""


def _pages() -> list[str]:
    """The index, the dashboard, the dead letters, every list and the change page of one row of each."""
    pages = [reverse("admin:index"), reverse("pipeline_dashboard"), reverse("admin:inbox_dead_letters")]
    for model in admin.site._registry:
        meta = model._meta
        try:
            pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        except NoReverseMatch:
            continue
        first = model._default_manager.order_by("pk").first()
        if first is not None and not meta.proxy:
            pages.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk]))
    return pages


def _leftovers(text: str, language: str) -> list[str]:
    return [word for word in LEFTOVERS[language] if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text)]


@pytest.mark.parametrize("language", ["es", "en"])
def test_every_page_speaks_one_language(browser, transactional_db, server, month, language):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    User.objects.create_superuser("contadora", "c@b.cl", PASSWORD)
    pages = _pages()
    assert len(pages) > 20, pages  # every list, and rows in the mailboxes', messages', documents' and register's
    page = laptop_page(browser, locale=LOCALES[language])
    page.goto(f"{server.url}/admin/login/")
    assert page.title().endswith(PRODUCT[language])
    log_in(page, server.url, "contadora")

    found = {}
    for path in pages:
        response = page.goto(f"{server.url}{path}")
        assert response is not None and response.status == 200, path
        text, site_name, links_to_a_site = page.evaluate(_READ_PAGE)
        assert site_name == PRODUCT[language], path
        assert links_to_a_site == 0, path
        if words := _leftovers(text, language):
            found[path] = words
        if path in SCREENSHOTS:
            name = path.strip("/").replace("/", "-") or "index"
            page.screenshot(path=str(ARTIFACTS / f"every-page-{name}-{language}.png"), full_page=True)
    page.context.close()
    assert found == {}, f"words of the other language or of the machinery, by page: {found}"
