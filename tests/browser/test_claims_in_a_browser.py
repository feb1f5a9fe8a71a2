"""An accountant (es-CL, then en, at 1366 x 768) finds the facturas whose claim deadline is near, opens a
pending one, records a decision and sees its state change and the history, in a real browser.
Screenshots go to test-artifacts/. Needs chromium; skipped, saying so, where none is installed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from tests.support.browser_pages import ARTIFACTS, PASSWORD, logged_in_page, no_sideways_scroll
from tests.unit.test_claims import _document
from webapp.documents.models import Document
from webapp.inbox.models import Mailbox

pytestmark = [pytest.mark.slow]


def _facturas() -> dict[str, Document]:
    now = timezone.now()
    norte = Mailbox.objects.create(name="norte", settings={"path": "/nowhere"})
    return {
        "soon": _document(norte, 9001, deadline=now + dt.timedelta(days=1), issuer_name="Proveedora Pronta SpA"),
        "soon_en": _document(norte, 9002, deadline=now + dt.timedelta(hours=2), issuer_name="Ferretería Hoy Ltda"),
        "later": _document(
            norte,
            9003,
            deadline=now + dt.timedelta(days=6),
            claim_deadline_estimated=True,
            issuer_name="Distribuidora Lejana",
        ),
        "overdue": _document(norte, 9004, deadline=now - dt.timedelta(days=2), issuer_name="Vencida S.A."),
    }


def _decide(page, code: str, reason: str) -> None:
    page.click("a.claim-decide")
    page.check(f"input[name=code][value={code}]")
    page.fill("textarea[name=reason]", reason)
    page.click("#decision-form input[type=submit]")


def test_the_accountant_decides_on_a_factura_before_its_deadline(browser, transactional_db, server):
    ARTIFACTS.mkdir(exist_ok=True)
    facturas = _facturas()
    User.objects.create_superuser("contadora", "c@b.cl", PASSWORD)

    page = logged_in_page(browser, server, "contadora")
    page.goto(f"{server.url}/admin/documents/document/")
    later = page.locator("#result_list tbody tr", has_text="9003").locator("td.field-claim_deadline_display")
    assert "Pendiente" in later.inner_text() and "estimado" in later.inner_text()
    overdue = page.locator("#result_list tbody tr", has_text="9004").locator("td.field-claim_deadline_display")
    assert "Aceptada tácitamente" in overdue.inner_text() and "venció hace 2 días" in overdue.inner_text()
    page.screenshot(path=str(ARTIFACTS / "claims-list-es.png"), full_page=True)
    no_sideways_scroll(page)

    page.click("#changelist-filter a:has-text('Vence en 2 días o menos')")
    page.wait_for_url("**deadline=soon**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2 and "vence mañana" in rows.first.inner_text() + rows.last.inner_text()
    page.screenshot(path=str(ARTIFACTS / "claims-due-soon-es.png"), full_page=True)

    page.goto(f"{server.url}/admin/documents/document/{facturas['soon'].pk}/change/")
    section = page.locator(".claim-summary")
    assert "Pendiente" in section.inner_text() and "vence mañana" in section.inner_text()
    page.click("a.claim-decide")
    assert "Registrar una decisión sobre 33-9001" in page.locator("#content").inner_text()
    page.screenshot(path=str(ARTIFACTS / "claims-decision-form-es.png"), full_page=True)
    page.go_back()
    _decide(page, "RCD", "El precio no es el de la orden de compra 4471")
    page.wait_for_url(f"**/{facturas['soon'].pk}/change/")
    assert "Registrada: Reclamo al contenido del documento (RCD)." in page.locator(".messagelist").inner_text()
    assert "Reclamada" in page.locator(".claim-summary").inner_text()
    history = page.locator("#decisions-group").inner_text()
    assert "contadora" in history and "El precio no es el de la orden de compra 4471" in history
    assert "en plazo" in history
    page.screenshot(path=str(ARTIFACTS / "claims-decided-es.png"), full_page=True)
    no_sideways_scroll(page)
    page.context.close()

    page = logged_in_page(browser, server, "contadora", locale="en")
    page.goto(f"{server.url}/admin/documents/document/")
    page.click("#changelist-filter a:has-text('Due in 2 days or less')")
    page.wait_for_url("**deadline=soon**")
    assert page.locator("#result_list tbody tr").count() == 1  # the claimed one is no longer pending
    assert "due today" in page.locator("#result_list tbody tr").inner_text()
    page.goto(f"{server.url}/admin/documents/document/{facturas['soon_en'].pk}/change/")
    _decide(page, "ACD", "")
    page.wait_for_url(f"**/{facturas['soon_en'].pk}/change/")
    assert "Accepted" in page.locator(".claim-summary").inner_text()
    assert "in time" in page.locator("#decisions-group").inner_text()
    page.screenshot(path=str(ARTIFACTS / "claims-decided-en.png"), full_page=True)
    page.context.close()
    assert {d.claim_decision for d in Document.objects.filter(folio__in=[9001, 9002])} == {"RCD", "ACD"}
