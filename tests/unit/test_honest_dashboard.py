"""The dashboard's headline is the worst thing true now, each item linked to its rows and scoped to the
user's mailboxes; "Todo en orden" only when nothing is wrong; the page reloads itself."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from pipeline import locks
from tests.support.mailbox_pair import dead_letter, mailbox_pair
from tests.unit.test_health_pipeline_access import make_healthy
from webapp.documents.models import CheckState, Document
from webapp.inbox.models import FetchRun, Mailbox, MailMessage

pytestmark = pytest.mark.django_db

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-cl"}
DASHBOARD = "pipeline_dashboard"


@pytest.fixture
def mailbox(tmp_path, redis_client):
    """A mailbox that reads well: its folder is there, its last reading completed, the clock ticks."""
    (tmp_path / "entrada").mkdir()
    box = Mailbox.objects.create(name="proveedores", settings={"path": str(tmp_path / "entrada")})
    FetchRun.objects.create(mailbox=box, status=FetchRun.Status.COMPLETED)
    make_healthy(redis_client)
    return box


def status_of(client) -> tuple[list[tuple[str, str, str | None]], str]:
    """The status paragraph's items as (css class, text, link), and the whole page."""
    page = client.get(reverse(DASHBOARD), **SPANISH).content.decode()
    start = page.index('<p id="pipeline-status"')
    status = page[start : page.index("</p>", start)]
    items = [
        (
            css.replace(" headline", ""),
            html.unescape(re.sub(r"<[^>]+>", "", text)).strip(),
            link and html.unescape(link),
        )
        for link, css, text in re.findall(
            r'<(?:a href="([^"]*)"|span) class="([^"]+)">(.*?)</(?:a|span)>', status, flags=re.S
        )
    ]
    return items, page


def listed(client, url: str) -> set[int]:
    """The ids of the rows a filtered admin list shows."""
    answer = client.get(url)
    assert answer.status_code == 200, url
    return {row.pk for row in answer.context["cl"].result_list}


def test_all_in_order_only_when_nothing_is_wrong_and_the_page_reloads_itself(admin_client, mailbox):
    items, page = status_of(admin_client)
    assert items == []
    assert "Todo en orden" in page and "Requiere atención" not in page
    assert '<meta http-equiv="refresh" content="60">' in page, "reloads every minute, without a script"
    MailMessage.objects.create(mailbox=mailbox, source_id="q", status=MailMessage.Status.QUARANTINED)
    items, page = status_of(admin_client)
    assert [css for css, _text, _link in items] == ["quarantined"]
    assert "Todo en orden" not in page and "Requiere atención" in page


def _failed_reading(mailbox: Mailbox, redis_client) -> set[int]:
    return {FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.FAILED, error="Graph dijo que no").pk}


def _folder_gone(mailbox: Mailbox, redis_client) -> set[int]:
    Mailbox.objects.filter(pk=mailbox.pk).update(settings={"path": "/no/existe"})
    return {mailbox.pk}


def _reading_with_errors(mailbox: Mailbox, redis_client) -> set[int]:
    FetchRun.objects.create(
        mailbox=mailbox, status=FetchRun.Status.FAILED, created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    )
    run = FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.COMPLETED_WITH_ERRORS, error="1 falló")
    FetchRun.objects.create(mailbox=mailbox, status=FetchRun.Status.COMPLETED)  # the latest read well
    return {run.pk}


def _dead_letter(mailbox: Mailbox, redis_client) -> set[int]:
    message = MailMessage.objects.create(mailbox=mailbox, source_id="d", status=MailMessage.Status.PENDING)
    dead_letter(redis_client, actor="save_message", args=[message.pk], reason="murió")
    return set()


def _quarantined(mailbox: Mailbox, redis_client) -> set[int]:
    MailMessage.objects.create(mailbox=mailbox, source_id="ok")
    return {MailMessage.objects.create(mailbox=mailbox, source_id="q", status=MailMessage.Status.QUARANTINED).pk}


def _stale_clock(mailbox: Mailbox, redis_client) -> set[int]:
    redis_client.set(locks.key("scheduler", "last_tick"), (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat())
    return set()


def _conflict(mailbox: Mailbox, redis_client) -> set[int]:
    Document.objects.create(mailbox=mailbox, doc_type=33, folio=1, issuer_rut="76354771-K")
    return {Document.objects.create(mailbox=mailbox, doc_type=33, folio=2, issuer_rut="76354771-K", conflict=True).pk}


def _stamp_fails(mailbox: Mailbox, redis_client) -> set[int]:
    Document.objects.create(mailbox=mailbox, doc_type=33, folio=1, issuer_rut="76354771-K", ted=CheckState.VALID)
    return {
        Document.objects.create(
            mailbox=mailbox, doc_type=33, folio=2, issuer_rut="76354771-K", ted=CheckState.INVALID
        ).pk
    }


CONDITIONS: dict[str, tuple[Callable[[Mailbox, object], set[int]], str, str]] = {
    "failed-reading": (
        _failed_reading,
        "mailbox-unreadable",
        "El buzón proveedores no se puede leer: su última lectura falló: Graph dijo que no",
    ),
    "folder-gone": (
        _folder_gone,
        "mailbox-unreadable",
        "El buzón proveedores no se puede leer: No hay ninguna carpeta en esa ruta.",
    ),
    "reading-with-errors": (
        _reading_with_errors,
        "reads-failed",
        "1 lectura del buzón falló o tuvo errores en las últimas 24 horas",
    ),
    "dead-letter": (_dead_letter, "dead-letters", "1 tarea se abandonó tras sus reintentos (mensaje fallido)"),
    "quarantined": (_quarantined, "quarantined", "1 correo no se pudo guardar y espera en cuarentena"),
    "stale-clock": (_stale_clock, "clock-stale", "La lectura programada se detuvo"),
    "conflict": (_conflict, "documents-conflict", "1 documento llegó en copias que no coinciden"),
    "stamp": (_stamp_fails, "documents-ted-failing", "1 documento cuyo timbre electrónico no verifica"),
}


@pytest.mark.parametrize("condition", CONDITIONS)
def test_each_condition_makes_the_headline_and_links_to_its_rows(admin_client, mailbox, redis_client, condition):
    make, css, text = CONDITIONS[condition]
    rows = make(mailbox, redis_client)
    items, page = status_of(admin_client)
    assert len(items) == 1, items
    (shown_css, shown_text, link) = items[0]
    assert (shown_css, "Requiere atención" in page, "Todo en orden" in page) == (css, True, False)
    assert shown_text.startswith(text), shown_text
    assert link, "every item links somewhere"
    if css == "mailbox-unreadable":
        assert link == reverse("admin:inbox_mailbox_change", args=[mailbox.pk])
    elif css == "dead-letters":
        assert "murió" in admin_client.get(link).content.decode()
    elif css == "clock-stale":
        assert link == "#clock" and 'id="clock"' in page
    else:
        assert listed(admin_client, link) == rows


def test_the_stale_clock_says_when_it_last_ticked_in_local_time(admin_client, mailbox, redis_client):
    last = dt.datetime(2025, 7, 1, 14, 5, tzinfo=dt.UTC)  # 10:05 in Santiago (winter, UTC-4)
    redis_client.set(locks.key("scheduler", "last_tick"), last.isoformat())
    items, page = status_of(admin_client)
    assert (
        items[0][1]
        == "La lectura programada se detuvo: la última lectura programada del buzón fue el 01-07-2025 10:05."
    )
    clock = re.search(r'<p id="clock">([^<]*)</p>', page)[1]
    assert "01-07-2025 10:05" in clock
    reading = page.split('id="last-runs"')[1].split("</table>")[0]
    started = FetchRun.objects.get(mailbox=mailbox).created_at.astimezone(ZoneInfo("America/Santiago"))
    assert started.strftime("%d-%m-%Y %H:%M") in reading and "Completada" in reading


def test_the_worst_comes_first(admin_client, mailbox, redis_client):
    for make in (_quarantined, _dead_letter, _conflict, _reading_with_errors):
        make(mailbox, redis_client)
    other = Mailbox.objects.create(name="gerencia", settings={"path": "/no/existe"})
    items, page = status_of(admin_client)
    assert [css for css, _text, _link in items] == [
        "mailbox-unreadable",
        "reads-failed",
        "dead-letters",
        "quarantined",
        "documents-conflict",
    ]
    assert 'class="mailbox-unreadable headline"' in page, "the first is the headline"
    assert page.count(" headline") == 1
    _stale_clock(mailbox, redis_client)
    assert status_of(admin_client)[0][0][0] == "clock-stale", "a stopped clock reads no mailbox at all"
    assert items[0][2] == reverse("admin:inbox_mailbox_change", args=[other.pk])


def test_several_mailboxes_that_cannot_be_read_link_to_exactly_them(admin_client, mailbox):
    gone = [Mailbox.objects.create(name=f"perdido-{n}", settings={"path": f"/no/{n}"}) for n in range(2)]
    Mailbox.objects.create(name="apagado", settings={"path": "/no/apagado"}, active=False)
    (css, text, link), *_rest = status_of(admin_client)[0]
    assert (css, text) == ("mailbox-unreadable", "2 buzones no se pueden leer")
    assert listed(admin_client, link) == {box.pk for box in gone}


def test_a_clerk_sees_and_follows_only_their_own_mailboxs_troubles(client, tmp_path, redis_client):
    pair = mailbox_pair(tmp_path, redis_client)
    make_healthy(redis_client)
    client.force_login(pair.clerk)
    items, page = status_of(client)
    assert "sur-secreto" not in page and "secret" not in page.lower()
    texts = {css: text for css, text, _link in items}
    assert texts["quarantined"] == "1 correo no se pudo guardar y espera en cuarentena", "norte's one, not sur's 3"
    assert texts["dead-letters"].startswith("1 tarea"), "norte's letter, not sur's"
    for css, _text, link in items:
        if link and link.startswith("/admin/") and "dead-letters" not in link and "/change/" not in link:
            shown = client.get(link).content.decode()
            assert "secret" not in shown.lower(), (css, link)


def test_facturas_due_within_2_days_and_overdue_make_the_headline(admin_client, mailbox):
    from webapp.documents.services.claims import claims_summary  # noqa: F401 (the hook needs it)

    now = dt.datetime.now(dt.UTC)
    due = Document.objects.create(
        mailbox=mailbox, doc_type=33, folio=10, issuer_rut="76354771-K", claim_deadline=now + dt.timedelta(days=1)
    )
    late = Document.objects.create(
        mailbox=mailbox, doc_type=33, folio=11, issuer_rut="76354771-K", claim_deadline=now - dt.timedelta(days=1)
    )
    Document.objects.create(
        mailbox=mailbox, doc_type=33, folio=12, issuer_rut="76354771-K", claim_deadline=now + dt.timedelta(days=6)
    )
    items = {css: (text, link) for css, text, link in status_of(admin_client)[0]}
    assert items["claims-due-soon"][0] == "1 factura vence en 2 días o menos: acéptela o reclámela"
    assert items["claims-overdue"][0] == "1 factura vencida: pasó su plazo para aceptar o reclamar"
    assert listed(admin_client, items["claims-due-soon"][1]) == {due.pk}
    assert listed(admin_client, items["claims-overdue"][1]) == {late.pk}
