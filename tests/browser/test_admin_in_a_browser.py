"""The admin in a real browser (Debian's chromium driven by Playwright) over the Procfile's real processes.

Log in, see the attachments and documents with their thumbnails loaded (a PDF's and a document's drawn
on their list's first showing, and the XML's preview with a document's), download a file and compare its bytes, press "Read now"
on a mailbox and watch the read complete. Screenshots go to test-artifacts/.
Needs chromium (`apt-get install -y chromium`); skipped, saying so, where none is installed; under CI that fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline import samples
from pipeline.embedded_redis import EmbeddedRedis
from tests.support.browser_pages import ARTIFACTS, PASSWORD, laptop_page, log_in
from tests.support.database import attached_database
from tests.support.migrated import migrated_sqlite
from tests.support.processes import ProcfileProcess, free_port, manage_side_by_side, wait_for
from webapp.documents.models import Document
from webapp.inbox.models import Attachment, FetchRun, MailMessage

pytestmark = [pytest.mark.slow]


def _all_images_loaded(page) -> bool:
    return page.evaluate(
        "() => { const imgs = [...document.querySelectorAll('#result_list img')];"
        " return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }"
    )


def test_the_accountant_browses_downloads_and_fetches(browser, tmp_path, django_db_blocker, monkeypatch):
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM reads are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sent: dict[str, bytes] = {}
    for index, folio in enumerate((2001, 2002)):
        xml = samples.dte_xml(folio=folio)
        pdf = samples.invoice_pdf(issuer_name="Proveedora Austral SpA", folio=folio, total=119_000 * (index + 1))
        sent[f"DTE_{folio}.xml"], sent[f"Factura_{folio}.pdf"] = xml, pdf
        (inbox / f"{index}.eml").write_bytes(
            samples.supplier_email(
                folio=folio,
                attachments=[
                    (f"DTE_{folio}.xml", "application/xml", xml),
                    (f"Factura_{folio}.pdf", "application/pdf", pdf),
                ],
            )
        )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with EmbeddedRedis.start(tmp_path / "redis") as redis_server:
        env = {
            "STATE_DIR": str(tmp_path / "state"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "REDIS_URL": redis_server.url,
            "SECRET_KEY": "browser-test-secret-key-0123456789-abcdefghijklmnop",
            "DEBUG": "false",
            "HTTPS": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SCHEDULER_TICK_ON_START": "true",
            "WORKER_SHUTDOWN_TIMEOUT_MS": "10000",
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        }
        env["DATABASE_URL"] = migrated_sqlite(tmp_path / "db.sqlite3", env)
        manage_side_by_side(
            env,
            ("collectstatic", "--noinput"),  # as the image build does: the admin's CSS and icons
            ("createsuperuser", "--noinput", "--username", "admin", "--email", "a@b.cl"),
            ("add_mailbox", "suppliers", "--folder", str(inbox)),
            DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        )
        logs = tmp_path / "logs"
        logs.mkdir()
        with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
            processes = [
                ProcfileProcess("worker", env, logs),
                ProcfileProcess("scheduler", env, logs),
                ProcfileProcess("web", dict(env, PORT=str(port), WEB_CONCURRENCY="1"), logs),
            ]
            try:
                wait_for(
                    lambda: FetchRun.objects.using(db).filter(status=FetchRun.Status.COMPLETED).exists(),
                    timeout=60,
                    what="the first run",
                    processes=processes,
                )
                wait_for(
                    lambda: (
                        not Attachment.objects.using(db)
                        .filter(preview_status=Attachment.PreviewStatus.PENDING)
                        .exists()
                    ),
                    timeout=60,
                    what="previews",
                    processes=processes,
                )
                _browse(browser, base, sent, inbox, db, processes)
            finally:
                exit_codes = {p.name: p.stop() for p in processes}
    assert exit_codes == {"worker": 0, "scheduler": 0, "web": 0}


def _browse(browser, base: str, sent: dict[str, bytes], inbox: Path, db: str, processes) -> None:
    context = browser.new_context(accept_downloads=True, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, base, "admin")

    page.goto(f"{base}/admin/inbox/attachment/")
    page.wait_for_function("() => [...document.querySelectorAll('#result_list img')].every(i => i.complete)")
    page.screenshot(path=str(ARTIFACTS / "attachments.png"), full_page=True)
    assert _all_images_loaded(page), "every thumbnail is a real image"
    assert page.locator("#result_list img").count() == 2, "the two PDFs; an XML's comes with its printable"

    row = page.locator("#result_list tr", has_text="Factura_2002.pdf")
    with page.expect_download() as download_info:
        row.get_by_role("link", name="Download").click()
    download = download_info.value
    assert download.suggested_filename == "Factura_2002.pdf"
    assert Path(download.path()).read_bytes() == sent["Factura_2002.pdf"]

    page.goto(f"{base}/admin/documents/document/")
    page.wait_for_function("() => [...document.querySelectorAll('#result_list img')].every(i => i.complete)")
    page.screenshot(path=str(ARTIFACTS / "documents.png"), full_page=True)
    assert _all_images_loaded(page), "each printable's thumbnail, drawn on this first request"
    assert page.locator("#result_list tbody tr").count() == 2
    assert page.locator("#result_list img").count() == 2

    page.goto(f"{base}/admin/inbox/attachment/")
    page.wait_for_function("() => [...document.querySelectorAll('#result_list img')].every(i => i.complete)")
    assert _all_images_loaded(page)
    assert page.locator("#result_list img").count() == 4, "two PDFs and two XML (their printable's thumbnail)"

    # New mail, then "Read now" on the mailbox page: the read is queued, and completes.
    (inbox / "new.eml").write_bytes(samples.supplier_email(folio=2003))
    page.goto(f"{base}/admin/inbox/mailbox/")
    page.get_by_role("link", name="suppliers").click()
    page.get_by_role("button", name="Read now").click()
    assert page.locator(".messagelist .success").inner_text() == "Suppliers: mailbox read queued."
    run_id = FetchRun.objects.using(db).filter(trigger=FetchRun.Trigger.MANUAL).latest("created_at").pk
    page.screenshot(path=str(ARTIFACTS / "fetch-now.png"), full_page=True)

    def completed() -> bool:
        page.goto(f"{base}/admin/inbox/fetchrun/{run_id}/change/")
        return "Completed" in page.locator("#content").inner_text()

    wait_for(completed, timeout=60, interval=0.5, what=f"mailbox read {run_id} to show Completed", processes=processes)
    page.screenshot(path=str(ARTIFACTS / "fetch-run-completed.png"), full_page=True)
    assert FetchRun.objects.using(db).get(pk=run_id).messages_new == 1

    # The new mail's document: listed with its thumbnail, drawn when the list asks for it.
    wait_for(
        lambda: Document.objects.using(db).filter(folio=2003).exists(),
        timeout=60,
        what="the new document",
        processes=processes,
    )
    page.goto(f"{base}/admin/documents/document/")
    page.wait_for_function("() => [...document.querySelectorAll('#result_list img')].every(i => i.complete)")
    page.screenshot(path=str(ARTIFACTS / "documents-new.png"), full_page=True)
    assert page.locator("#result_list tbody tr").count() == 3
    assert _all_images_loaded(page) and page.locator("#result_list img").count() == 3
    assert Document.objects.using(db).get(folio=2003).printable_status == Document.PrintableStatus.READY
    context.close()
    _browse_in_spanish(browser, base, inbox, db, processes)


def _browse_in_spanish(browser, base: str, inbox: Path, db: str, processes) -> None:
    """An accountant's laptop: es-CL at 1366 x 768; the dashboard's next read and a copied mail."""
    page = laptop_page(browser, locale="es-CL")
    log_in(page, base, "admin")

    page.goto(f"{base}/admin/pipeline/")
    next_read = page.locator("#next-read").inner_text()
    page.screenshot(path=str(ARTIFACTS / "dashboard-es.png"), full_page=True)
    assert re.fullmatch(r"Próxima lectura del buzón: \d{2}-\d{2}-\d{4} \d{2}:\d{2}", next_read), next_read

    raw = (inbox / "processed" / "new.eml").read_bytes()
    (inbox / "new-again.eml").write_bytes(raw)  # the same mail delivered twice
    page.goto(f"{base}/admin/inbox/mailbox/")
    page.get_by_role("link", name="suppliers").click()
    page.get_by_role("button", name="Leer ahora").click()
    wait_for(
        lambda: MailMessage.objects.using(db).filter(source_id="new-again.eml", copy_of__isnull=False).exists(),
        timeout=60,
        what="the second delivery recorded as a copy",
        processes=processes,
    )
    copy = MailMessage.objects.using(db).get(source_id="new-again.eml")
    page.goto(f"{base}/admin/inbox/mailmessage/{copy.pk}/change/")
    content = page.locator("#content").inner_text()
    page.screenshot(path=str(ARTIFACTS / "message-copy-es.png"), full_page=True)
    assert "el mismo correo, sus archivos se guardan allí" in content
    assert content.count("Copia de:") == 1, "one line says what the copy repeats"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366, "no sideways scrolling at 1366 px"
    page.context.close()
