"""An accountant's laptop (es-CL, 1366 x 768) opens the dashboard after a failed mailbox reading and a
dead letter: the headline says the worst first, each item leads to its rows, nothing says "Todo en
orden", and the page reloads itself. Screenshots go to test-artifacts/. Needs chromium; skipped,
saying so, where none is installed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from tests.support.browser_pages import ARTIFACTS, PASSWORD, logged_in_page, no_sideways_scroll
from tests.support.mailbox_pair import dead_letter
from tests.unit.test_health_pipeline_access import make_healthy
from webapp.inbox.models import FetchRun, Mailbox, MailMessage

pytestmark = [pytest.mark.slow]


def test_the_dashboard_says_the_worst_first_after_a_failed_reading_and_a_dead_letter(
    browser,
    transactional_db,
    server,
    redis_client,
    tmp_path,
):
    ARTIFACTS.mkdir(exist_ok=True)
    (tmp_path / "entrada").mkdir()
    mailbox = Mailbox.objects.create(name="proveedores", settings={"path": str(tmp_path / "entrada")})
    FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.COMPLETED)
    FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.FAILED, error="la carpeta no respondió")
    message = MailMessage.objects.create(mailbox=mailbox, source_id="01.eml", subject="Factura 170")
    dead_letter(redis_client, actor="save_message", args=[message.pk], reason="se abandonó tras 3 intentos")
    make_healthy(redis_client)
    User.objects.create_superuser("contadora", "c@b.cl", PASSWORD)

    page = logged_in_page(browser, server, "contadora")

    page.goto(f"{server.url}/admin/pipeline/")
    page.screenshot(path=str(ARTIFACTS / "dashboard-honest-es.png"), full_page=False)
    status = page.locator("#pipeline-status")
    assert status.locator("strong").first.inner_text() == "Requiere atención"
    assert "Todo en orden" not in page.locator("#content").inner_text()
    headline = status.locator(".headline")
    assert headline.inner_text() == (
        "El buzón proveedores no se puede leer: su última lectura falló: la carpeta no respondió"
    )
    assert status.locator("a").count() == 2, "the unreadable mailbox, then the dead letter"
    assert page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "60"
    assert page.get_by_role("button", name="Leer ahora").is_visible()
    no_sideways_scroll(page)

    status.locator("a.dead-letters").click()
    assert "se abandonó tras 3 intentos" in page.locator("#content").inner_text()
    page.go_back()
    headline.click()
    page.wait_for_url(f"{server.url}/admin/inbox/mailbox/{mailbox.pk}/change/")
    assert page.get_by_role("button", name="Probar conexión").count() == 0, "a folder mailbox has no Graph test"
    page.context.close()
