"""The whole pipeline as it runs in production: the Procfile's real processes over a real Redis.

Release (migrate), the dramatiq worker, the scheduler (tick on start) and gunicorn, all
started from the Procfile's own command lines. A worker that starts but never consumes
makes the waits below time out.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import psutil
import pytest
import requests

from pipeline import samples
from pipeline.embedded_redis import EmbeddedRedis
from tests.support import needs
from tests.support.database import attached_database
from tests.support.postgres import temporary_postgres
from tests.support.processes import ProcfileProcess, free_port, manage, run_procfile_once, wait_for
from tests.support.web import admin_session
from webapp.documents.models import Document, XmlClassification
from webapp.inbox.models import Attachment, Blob, FetchRun, MailMessage

pytestmark = [pytest.mark.slow]

ADMIN_PASSWORD = "e2e-Secret-pass-42"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stack.sqlite3'}"
        return
    needs.pg_bin()
    with temporary_postgres() as server:
        yield server.create_database("invoicemail")


@pytest.fixture
def stack_env(tmp_path, database_url):
    with EmbeddedRedis.start(tmp_path / "redis") as redis_server:
        yield {
            "STATE_DIR": str(tmp_path / "state"),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_server.url,
            "SECRET_KEY": "end-to-end-test-secret-key-0123456789-abcdefghijklmnop",
            "DEBUG": "false",
            "HTTPS": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SCHEDULER_TICK_ON_START": "true",
            "WORKER_SHUTDOWN_TIMEOUT_MS": "10000",
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        }


def _write_mail(inbox: Path) -> dict[str, bytes]:
    """Three supplier e-mails, plus a fourth that carries the first one's PDF again."""
    files: dict[str, bytes] = {}
    first_pdf = samples.invoice_pdf(issuer_name="Proveedora Austral SpA", folio=1001, total=119_000)
    for index, folio in enumerate((1001, 1002, 1003)):
        xml = samples.dte_xml(folio=folio)
        pdf = (
            first_pdf
            if index == 0
            else samples.invoice_pdf(issuer_name="Proveedora Austral SpA", folio=folio, total=folio)
        )
        files[f"DTE_{folio}.xml"], files[f"Factura_{folio}.pdf"] = xml, pdf
        data = samples.supplier_email(
            folio=folio,
            attachments=[
                (f"DTE_{folio}.xml", "application/xml", xml),
                (f"Factura_{folio}.pdf", "application/pdf", pdf),
            ],
        )
        (inbox / f"{index + 1:02d}.eml").write_bytes(data)
    repeat_xml = samples.dte_xml(folio=1004)
    files["DTE_1004.xml"] = repeat_xml
    data = samples.supplier_email(
        folio=1004,
        attachments=[
            ("DTE_1004.xml", "application/xml", repeat_xml),
            ("copia factura 1001.pdf", "application/pdf", first_pdf),
        ],
    )
    (inbox / "04.eml").write_bytes(data)
    files["copia factura 1001.pdf"] = first_pdf
    return files


def _sandbox_children(pid: int) -> list[psutil.Process]:
    """The sandbox children (pipeline/sandbox.py) anywhere under process `pid`."""
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if any("pipeline.sandbox_child" in word for word in child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def test_mail_becomes_stored_previewed_downloadable_files(tmp_path, stack_env, django_db_blocker):
    logs = tmp_path / "logs"
    logs.mkdir()
    run_procfile_once("release", stack_env)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sent = _write_mail(inbox)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"

    manage(
        stack_env,
        "createsuperuser",
        "--noinput",
        "--username",
        "admin",
        "--email",
        "a@b.cl",
        DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD,
    )
    assert "created mailbox suppliers" in manage(stack_env, "add_mailbox", "suppliers", "--folder", str(inbox)).stdout

    with django_db_blocker.unblock(), attached_database(stack_env["DATABASE_URL"]) as db:
        processes = [
            ProcfileProcess("worker", stack_env, logs),
            ProcfileProcess("scheduler", stack_env, logs),
            ProcfileProcess("web", dict(stack_env, PORT=str(port), WEB_CONCURRENCY="1"), logs),
        ]
        try:
            run = wait_for(
                lambda: (
                    FetchRun.objects.using(db)
                    .filter(status__in=[FetchRun.Status.COMPLETED, FetchRun.Status.COMPLETED_WITH_ERRORS])
                    .first()
                ),
                timeout=60,
                what="the scheduled run to complete",
                processes=processes,
            )
            wait_for(
                lambda: (
                    not Attachment.objects.using(db).filter(preview_status=Attachment.PreviewStatus.PENDING).exists()
                ),
                timeout=60,
                what="previews to be rendered",
                processes=processes,
            )

            assert run.trigger == FetchRun.Trigger.SCHEDULE
            assert run.status == FetchRun.Status.COMPLETED
            assert (run.messages_seen, run.messages_new) == (4, 4)
            assert (run.attachments_stored, run.attachments_deduplicated, run.attachments_failed) == (8, 1, 0)
            assert MailMessage.objects.using(db).filter(status=MailMessage.Status.PROCESSED).count() == 4

            attachments = list(Attachment.objects.using(db).select_related("blob"))
            assert sorted(a.original_filename for a in attachments) == sorted(sent)
            media = Path(stack_env["STATE_DIR"]) / "media"
            for attachment in attachments:
                stored = (media / attachment.blob.storage_name).read_bytes()
                assert hashlib.sha256(stored).hexdigest() == attachment.blob.sha256
                assert stored == sent[attachment.original_filename]
            assert Blob.objects.using(db).count() == 7, "the repeated PDF is stored once"

            pdfs = [a for a in attachments if a.content_type == "application/pdf"]
            assert len(pdfs) == 4
            for pdf in pdfs:  # the web draws a PDF's thumbnail on its first request
                assert pdf.preview_status == Attachment.PreviewStatus.ON_REQUEST, pdf.preview_error

            assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["01.eml", "02.eml", "03.eml", "04.eml"]
            assert not list(inbox.glob("*.eml"))

            target = next(a for a in attachments if a.original_filename == "Factura_1002.pdf")
            anonymous = requests.get(
                f"{base_url}/downloads/attachments/{target.pk}/", timeout=10, allow_redirects=False
            )
            assert anonymous.status_code == 302 and "/admin/login/" in anonymous.headers["Location"]
            assert sent["Factura_1002.pdf"] not in anonymous.content

            download = admin_session(base_url, password=ADMIN_PASSWORD).get(
                f"{base_url}/downloads/attachments/{target.pk}/", timeout=10
            )
            assert download.status_code == 200
            assert download.content == sent["Factura_1002.pdf"]
            assert 'filename="Factura_1002.pdf"' in download.headers["Content-Disposition"]
            thumbnail = admin_session(base_url, password=ADMIN_PASSWORD).get(
                f"{base_url}/downloads/attachments/{target.pk}/preview/", timeout=10
            )
            assert thumbnail.status_code == 200 and thumbnail.content.startswith(b"\x89PNG\r\n\x1a\n")
            target.refresh_from_db(using=db)
            assert target.preview_status == Attachment.PreviewStatus.READY, target.preview_error
            assert (media / target.preview_name).read_bytes() == thumbnail.content

            # The worker's render queue turned every DTE XML into a Document, its printable PDF to be made on request.
            documents = {d.folio: d for d in Document.objects.using(db).select_related("pdf_attachment")}
            assert sorted(documents) == [1001, 1002, 1003, 1004]
            assert set(XmlClassification.objects.using(db).values_list("kind", flat=True)) == {"envelope"}
            for document in documents.values():
                assert document.printable_status == Document.PrintableStatus.ON_REQUEST, document.printable_error
            paired = {f: d.pdf_attachment.original_filename if d.pdf_attachment else None for f, d in documents.items()}
            assert paired == {
                1001: "Factura_1001.pdf",
                1002: "Factura_1002.pdf",
                1003: "Factura_1003.pdf",
                1004: None,
            }, "the copy of 1001's PDF is not taken for 1004"
            printable = admin_session(base_url, password=ADMIN_PASSWORD).get(
                f"{base_url}/downloads/documents/{documents[1002].pk}/printable/", timeout=10
            )
            assert printable.status_code == 200 and printable.content.startswith(b"%PDF")
            documents[1002].refresh_from_db(using=db)  # the web process drew it, in its sandbox, and stored it
            assert documents[1002].printable_status == Document.PrintableStatus.READY, documents[1002].printable_error
            assert printable.content == (media / documents[1002].printable_name).read_bytes()
            # The web's sandbox child drew it; once the web is idle (IDLE_SECONDS) it lets the child go.
            web = processes[2]
            assert _sandbox_children(web.pid), "drawn in the web's own sandbox child, kept warm a moment"
            wait_for(lambda: not _sandbox_children(web.pid), timeout=30, what="the web's idle sandbox child to go")

            health = requests.get(f"{base_url}/health/", timeout=10)
            assert health.status_code == 200 and health.json()["status"] == "ok"

            fifth = samples.supplier_email(folio=1005)
            (inbox / "05.eml").write_bytes(fifth)
            (inbox / "05-again.eml").write_bytes(fifth)  # the same mail twice, read by the same run
            fetched = manage(stack_env, "fetch_mail", "suppliers", "--wait", "--timeout", "60")
            assert "Completed - 2 new of 2 messages" in fetched.stdout, fetched.stdout
            assert not list(inbox.glob("*.eml")), "once --wait returns, nothing it listed is left in the folder"
            fifths = MailMessage.objects.using(db).filter(source_id__in=["05.eml", "05-again.eml"])
            assert fifths.filter(copy_of__in=fifths).count() == 1, "one is the other's copy, whichever came first"
            assert Attachment.objects.using(db).filter(message__in=fifths).count() == 2, "its files, stored once"
            status = json.loads(manage(stack_env, "pipeline_status", "--json").stdout)
            assert status["redis"]["ok"] and status["scheduler"]["alive"]
            assert [r["trigger"] for r in status["recent_runs"]] == ["manual", "schedule"]
        finally:
            exit_codes = {p.name: p.stop() for p in processes}
    assert exit_codes == {"worker": 0, "scheduler": 0, "web": 0}, "\n".join(p.log()[-3000:] for p in processes)
