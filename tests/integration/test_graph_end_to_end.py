"""A Microsoft 365 mailbox end to end: the Procfile's real worker and scheduler against a fake Graph over HTTPS.

MSAL runs for real against the fake authority (REQUESTS_CA_BUNDLE trusts the fake's CA).
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import time
from pathlib import Path

import psutil
import pytest

from pipeline import samples
from pipeline.embedded_redis import EmbeddedRedis
from tests.support.database import attached_database
from tests.support.fake_graph import Attachment, FakeGraph, big_content
from tests.support.processes import ProcfileProcess, run_procfile_once, wait_for
from webapp.inbox.models import Attachment as AttachmentRow
from webapp.inbox.models import Blob, FetchRun, Mailbox, MailMessage

pytestmark = [pytest.mark.slow]

BIG_MB = 50


@pytest.fixture
def stack(tmp_path):
    with EmbeddedRedis.start(tmp_path / "redis") as redis_server, FakeGraph(tmp_path, page_size=4) as graph:
        env = {
            "STATE_DIR": str(tmp_path / "state"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'stack.sqlite3'}",
            "REDIS_URL": redis_server.url,
            "SECRET_KEY": "graph-end-to-end-test-secret-key-0123456789-abcdefghijkl",
            "DEBUG": "false",
            "SCHEDULER_TICK_ON_START": "true",
            "SCHEDULE_CRON": "*/2 * * * * *",
            "WORKER_SHUTDOWN_TIMEOUT_MS": "10000",
            "GRAPH_READ_TIMEOUT": "2",
            "GRAPH_CONNECT_TIMEOUT": "2",
            "GRAPH_MAX_ATTEMPTS": "3",
            "GRAPH_BACKOFF_SECONDS": "0.2",
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            **graph.env(),
        }
        run_procfile_once("release", env)
        yield env, graph


def _mailbox(db: str, graph: FakeGraph) -> Mailbox:
    return Mailbox.objects.using(db).create(
        name="m365", kind="graph", settings={"user": graph.user, "processed_folder": "Processed"}
    )


def _stored_rows(db_path: str, source_id: str) -> int:
    with sqlite3.connect(db_path, timeout=10) as connection:
        return connection.execute(
            "SELECT COUNT(*) FROM inbox_attachment a JOIN inbox_mailmessage m ON a.message_id = m.id "
            "WHERE m.source_id = ?",
            (source_id,),
        ).fetchone()[0]


def test_every_message_once_settled_after_its_files_through_throttling_and_faults(tmp_path, stack, django_db_blocker):
    env, graph = stack
    graph.latency = 0.05
    sent: dict[str, bytes] = {}
    for folio in range(1, 10):
        xml, pdf = (
            samples.dte_xml(folio=folio),
            samples.invoice_pdf(issuer_name="Austral SpA", folio=folio, total=folio),
        )
        sent[f"DTE_{folio}.xml"], sent[f"Factura_{folio}.pdf"] = xml, pdf
        graph.add_message(
            f"Factura {folio}",
            [
                Attachment(f"DTE_{folio}.xml", xml, "application/xml"),
                Attachment(f"Factura_{folio}.pdf", pdf, "application/pdf"),
            ],
            received=f"2025-03-{folio:02d}T10:00:00Z",
        )
    graph.add_message("sin adjuntos", received="2025-03-20T10:00:00Z")
    inner = samples.invoice_pdf(issuer_name="Reenviada SpA", folio=99, total=99)
    forwarded = samples.supplier_email(folio=99, attachments=[("reenviada.pdf", "application/pdf", inner)])
    graph.add_message(
        "reenvío",
        [
            Attachment("FW factura", forwarded, kind="itemAttachment"),
            Attachment("logo.png", b"\x89PNG-logo", "image/png", inline=True),
            Attachment("carpeta", None, kind="referenceAttachment"),
        ],
        received="2025-03-21T10:00:00Z",
    )
    sent["reenviada.pdf"], sent["FW factura.eml"] = inner, forwarded
    # faults: throttled first listing, a listing page that keeps failing (run 1 fails), flaky downloads
    graph.fail("/messages?", (429, 2))
    graph.fail("skiptoken=4", (500,), (503, 0), (500,))
    graph.fail("att-2-1/$value", (503, 1), ("reset",))
    graph.fail("att-3-0/$value", ("stall", 4))
    graph.fail("att-4-0/$value", (500,))

    db_path = env["DATABASE_URL"].removeprefix("sqlite:///")
    at_move: dict[str, int] = {}
    graph.on_move = lambda message_id: at_move.__setitem__(message_id, _stored_rows(db_path, message_id))
    logs = tmp_path / "logs"
    logs.mkdir()
    with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
        _mailbox(db, graph)
        worker_env = dict(env, WORKER_PROCESSES="2", WORKER_THREADS="4")
        processes = [ProcfileProcess("worker", worker_env, logs), ProcfileProcess("scheduler", env, logs)]
        try:
            failed = wait_for(
                lambda: FetchRun.objects.using(db).filter(status=FetchRun.Status.FAILED).first(),
                timeout=60,
                what="the first run to fail on the broken listing",
                processes=processes,
            )
            graph.expire_tokens()  # the workers' cached tokens are now refused: a 401 refreshes them
            wait_for(
                lambda: (
                    MailMessage.objects.using(db).filter(status=MailMessage.Status.PROCESSED).count() == 11
                    and not FetchRun.objects.using(db).filter(status__in=FetchRun.ACTIVE_STATUSES).exists()
                ),
                timeout=90,
                what="every message processed",
                processes=processes,
            )
            runs = list(FetchRun.objects.using(db).order_by("pk"))
            messages = list(MailMessage.objects.using(db).all())
            rows = list(AttachmentRow.objects.using(db).select_related("blob", "message"))
            media = Path(env["STATE_DIR"]) / "media"
            stored = {a.original_filename: (media / a.blob.storage_name).read_bytes() for a in rows if a.blob_id}
            skipped = {a.original_filename: a.error for a in rows if a.status == AttachmentRow.Status.SKIPPED}
        finally:
            exit_codes = {p.name: p.stop() for p in processes}
    assert exit_codes == {"worker": 0, "scheduler": 0}, "\n".join(p.log()[-3000:] for p in processes)

    # the throttled listing waited out its Retry-After
    throttled, retried = graph.requests_to("/messages?")[:2]
    assert throttled[4] == 429 and retried[0] - throttled[1] >= 2.0
    print(
        f"\nRetry-After 2 s: next request after {retried[0] - throttled[1]:.2f} s; "
        f"max in flight {graph.max_in_flight}; 401 answers {sum(e[4] == 401 for e in graph.log)}"
    )
    assert graph.max_in_flight <= 4
    # the broken listing failed its run readably; a later run caught up
    assert "500" in failed.error and failed.status == FetchRun.Status.FAILED
    assert sum(r.messages_new for r in runs) == 11 and runs[-1].status == FetchRun.Status.COMPLETED
    assert any(e[4] == 401 for e in graph.log) and graph.token_requests >= 2
    # every message once, with stable ids, moved once and only after its files were stored
    processed_folder = graph.folder_named("Processed")
    assert [f["displayName"] for f in graph.folders.values()].count("Processed") == 1, "workers racing made one folder"
    assert sorted(m.source_id for m in messages) == sorted(graph.messages)
    assert all(m.status == MailMessage.Status.PROCESSED for m in messages)
    assert all(graph.messages[i].folder == processed_folder for i in graph.messages)
    assert sorted(i for i, _ in graph.moves) == sorted(graph.messages), "each message moved exactly once"
    assert graph.missing_prefer == 0 and graph.selected_content_bytes == 0
    by_message = {m.source_id: sum(1 for a in rows if a.message_id == m.pk) for m in messages}
    assert at_move == by_message, "a message was moved before all its attachments were recorded"
    assert by_message["AAMk-immutable-0010"] == 0
    # the files, whole
    assert stored == sent
    assert "inline" in skipped["logo.png"] and "cloud file" in skipped["carpeta"]


def _settled(db: str) -> bool:
    """Every stored message's previews are made and its run is finished: the worker is idle again."""
    rows = AttachmentRow.objects.using(db)
    return not rows.filter(preview_status=AttachmentRow.PreviewStatus.PENDING).exists() and not (
        FetchRun.objects.using(db).filter(messages__isnull=False, status__in=FetchRun.ACTIVE_STATUSES).exists()
    )


def _worker_processes(proc: ProcfileProcess) -> list[psutil.Process]:
    root = psutil.Process(proc.pid)
    return [root, *root.children(recursive=True)]


def test_a_50_mb_attachment_is_stored_while_the_worker_grows_less_than_20_mb(tmp_path, stack, django_db_blocker):
    env, graph = stack
    graph.latency = 0.2  # 20 ms per MB of the big download: about a second to sample RSS in
    graph.add_message("warm-up", [Attachment("DTE_1.xml", samples.dte_xml(folio=1), "application/xml")])
    chunks, digest = big_content(BIG_MB * 1024 * 1024)
    logs = tmp_path / "logs"
    logs.mkdir()
    with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
        _mailbox(db, graph)
        processes = [ProcfileProcess("worker", env, logs), ProcfileProcess("scheduler", env, logs)]
        try:
            wait_for(
                lambda: MailMessage.objects.using(db).filter(status=MailMessage.Status.PROCESSED).count() == 1,
                timeout=60,
                what="the warm-up message",
                processes=processes,
            )
            wait_for(
                lambda: _settled(db),
                timeout=30,
                what="the warm-up's preview and run to finish",
                processes=processes,
            )
            workers = _worker_processes(processes[0])
            baseline = {p.pid: p.memory_info().rss for p in workers}
            peak = dict(baseline)
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    for p in workers:
                        with contextlib.suppress(psutil.Error):
                            peak[p.pid] = max(peak[p.pid], p.memory_info().rss)
                    time.sleep(0.01)  # the sampling period

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            graph.add_message(
                "grande",
                [
                    Attachment(
                        "respaldo.bin", None, "application/octet-stream", chunks=chunks, size=BIG_MB * 1024 * 1024
                    )
                ],
            )
            wait_for(
                lambda: MailMessage.objects.using(db).filter(status=MailMessage.Status.PROCESSED).count() == 2,
                timeout=90,
                what="the 50 MB message",
                processes=processes,
            )
            stop.set()
            sampler.join()
            blob = Blob.objects.using(db).get(size=BIG_MB * 1024 * 1024)
            stored = Path(env["STATE_DIR"]) / "media" / blob.storage_name
            on_disk = hashlib.sha256()
            with stored.open("rb") as handle:
                while block := handle.read(1024 * 1024):
                    on_disk.update(block)
        finally:
            exit_codes = {p.name: p.stop() for p in processes}
    downloads = [e for e in graph.requests_to("att-2-0/$value") if e[4] == 200]
    growth = {pid: peak[pid] - baseline[pid] for pid in baseline}
    print(
        f"\nRSS growth during the {BIG_MB} MB download ({downloads[0][1] - downloads[0][0]:.2f} s): "
        + ", ".join(f"pid {pid}: {g / 2**20:.1f} MB" for pid, g in growth.items())
    )
    assert exit_codes == {"worker": 0, "scheduler": 0}
    assert blob.sha256 == digest == on_disk.hexdigest()
    assert max(growth.values()) < 20 * 2**20, growth
