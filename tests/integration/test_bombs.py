"""Hostile files against the Procfile's real worker: a PDF render bomb and a 19.5 MB DTE cost the sandbox, not it.

The worker runs from the Procfile's own command line over a real Redis; its worker process's
resident memory (the process itself, not its sandbox children) is sampled with psutil from
before the first mail until the last preview is made. Before the sandbox, the bomb made PDFium
ask for about 6 GB and the worker aborted; the DTE took it about 270 MB past its baseline. The
worker now only stores the bomb: its thumbnail is drawn on request, in the web's sandbox, where
test_thumbnail_on_request.py sets it off.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
from dramatiq import Broker, Message

from pipeline import samples
from pipeline.broker import build_broker
from pipeline.config import DEFAULT_QUEUE
from pipeline.embedded_redis import EmbeddedRedis
from tests.support import hostile_files
from tests.support.database import attached_database
from tests.support.migrated import migrated_sqlite
from tests.support.processes import ProcfileProcess, wait_for
from webapp.documents.models import Document, XmlClassification
from webapp.inbox.models import Attachment, Mailbox

pytestmark = [pytest.mark.slow]

#: What the worker process may grow by, past its resident memory once it has served a mail.
MAX_GROWTH_MB = 80


class PeakSampler:
    """The largest resident memory of one process, sampled every 10 ms on a thread of its own."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.peak = process.memory_info().rss
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            self.samples += 1
            time.sleep(0.01)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _worker_process(master: ProcfileProcess) -> psutil.Process:
    """Dramatiq's one worker process: the master's child that is not a sandbox child."""
    children = [p for p in psutil.Process(master.pid).children() if "pipeline.sandbox" not in " ".join(p.cmdline())]
    assert len(children) == 1, children
    return children[0]


def _mail(folio: int, *attachments: tuple[str, str, bytes]) -> bytes:
    return samples.supplier_email(folio=folio, message_id=f"<bomb-{folio}@b.cl>", attachments=list(attachments))


def _huge_mail() -> bytes:
    return _mail(777, ("DTE_777.xml", "application/xml", hostile_files.huge_dte()))


def _settled(db: str, *source_ids: str) -> bool:
    """Every one of these mails is saved with its attachments, and none of them waits for its preview.

    Each on its own: the bomb's row alone, failed, said "settled" while the huge DTE's mail was still
    being saved (its row not there yet), and the test then read a classification not yet made.
    """
    for source_id in source_ids:
        attachments = Attachment.objects.using(db).filter(message__source_id=source_id)
        if not attachments.exists() or attachments.filter(preview_status=Attachment.PreviewStatus.PENDING).exists():
            return False
    return True


def test_a_pdf_bomb_and_a_huge_dte_fail_alone_and_the_worker_stays_small(tmp_path, django_db_blocker):
    logs, inbox = tmp_path / "logs", tmp_path / "inbox"
    logs.mkdir()
    inbox.mkdir()
    pool = ThreadPoolExecutor(max_workers=1)  # the huge mail costs seconds of CPU: built while the stack starts
    huge_mail = pool.submit(_huge_mail)
    pool.shutdown(wait=False)
    with EmbeddedRedis.start(tmp_path / "redis") as redis_server:
        env = {
            "STATE_DIR": str(tmp_path / "state"),
            "REDIS_URL": redis_server.url,
            "SECRET_KEY": "bomb-test-secret-key-0123456789-abcdefghijklmnopqrstuv",
            "DEBUG": "false",
            "HTTPS": "false",
            "WORKER_SHUTDOWN_TIMEOUT_MS": "10000",
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        }
        env["DATABASE_URL"] = migrated_sqlite(tmp_path / "bombs.sqlite3", env)
        warm_xml = samples.dte_xml(folio=100)
        (inbox / "00-warm.eml").write_bytes(
            _mail(100, ("DTE_100.xml", "application/xml", warm_xml), ("Factura_100.pdf", "application/pdf", _pdf(100)))
        )
        with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
            Mailbox.objects.using(db).create(name="suppliers", settings={"path": str(inbox)})
            worker = ProcfileProcess("worker", env, logs)
            processes = [worker]
            broker = build_broker(url=redis_server.url, with_django=False)
            try:
                _fetch_now(worker, broker)
                wait_for(lambda: _settled(db, "00-warm.eml"), timeout=90, what="the warm-up mail", processes=processes)
                process = _worker_process(worker)
                pid, baseline = process.pid, process.memory_info().rss
                sampler = PeakSampler(process)

                (inbox / "01-bomb.eml").write_bytes(
                    _mail(666, ("Factura_666.pdf", "application/pdf", hostile_files.pdf_render_bomb()))
                )
                (inbox / "02-huge.eml").write_bytes(huge_mail.result())
                started = time.monotonic()
                _fetch_now(worker, broker)
                wait_for(
                    lambda: _settled(db, "01-bomb.eml", "02-huge.eml"),
                    timeout=180,
                    what="the bomb and the huge DTE to settle",
                    processes=processes,
                )
                (inbox / "03-good.eml").write_bytes(
                    _mail(
                        1001,
                        ("DTE_1001.xml", "application/xml", samples.dte_xml(folio=1001)),
                        ("Factura_1001.pdf", "application/pdf", _pdf(1001)),
                    )
                )
                _fetch_now(worker, broker)
                wait_for(lambda: _settled(db, "03-good.eml"), timeout=90, what="the good mail", processes=processes)
                took = time.monotonic() - started
                peak = sampler.stop()

                assert process.is_running() and _worker_process(worker).pid == pid, "the same worker process"
                bomb = Attachment.objects.using(db).get(message__source_id="01-bomb.eml")
                # stored; drawn on its first request, in the web's sandbox (test_thumbnail_on_request.py)
                assert bomb.preview_status == Attachment.PreviewStatus.ON_REQUEST
                huge = Attachment.objects.using(db).get(message__source_id="02-huge.eml")
                assert XmlClassification.objects.using(db).get(attachment=huge).kind == "envelope"
                assert Document.objects.using(db).get(folio=777).line_count == 83_000
                for attachment in Attachment.objects.using(db).filter(message__source_id="03-good.eml"):
                    # the PDF's thumbnail and the XML's preview (its printable's) are made on request
                    later = "on_request" if attachment.content_type == "application/pdf" else "none"
                    assert attachment.preview_status == later, attachment.preview_error
                # printed on their first request (the web's), never by the worker
                assert (
                    Document.objects.using(db).get(folio=1001).printable_status == Document.PrintableStatus.ON_REQUEST
                )
                huge_printable = Document.objects.using(db).get(folio=777).printable_status
            finally:
                broker.close()
                code = worker.stop()
    growth_mb = (peak - baseline) / 2**20
    print(
        f"\nbomb + 19.5 MB DTE + good mail in {took:.1f} s: worker process {pid} RSS baseline "
        f"{baseline / 2**20:.0f} MB, peak {peak / 2**20:.0f} MB (+{growth_mb:.0f} MB) over {sampler.samples} samples; "
        f"huge DTE printable {huge_printable}"
    )
    assert sampler.samples > 100
    assert growth_mb < MAX_GROWTH_MB
    assert code == 0, worker.log()[-3000:]


def _pdf(folio: int) -> bytes:
    return samples.invoice_pdf(issuer_name="Proveedora Austral SpA", folio=folio, total=119_000)


def _fetch_now(worker: ProcfileProcess, broker: Broker) -> None:
    """A run now: the tick the scheduler sends, which reads every active mailbox."""
    broker.enqueue(Message(queue_name=DEFAULT_QUEUE, actor_name="tick", args=(), kwargs={}, options={}))
    assert worker.alive(), worker.log()[-3000:]
