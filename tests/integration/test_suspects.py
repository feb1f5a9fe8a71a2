"""Innocent neighbours: work that kills the worker beside other work in flight; only the culprit is given up.

The Procfile's worker (2 threads, prefetch 2) with the test-only probe (tests/support/fault_probe.py),
the scheduler (a tick every 2 s, stale after 3 s), Redis and SQLite, as in test_faults.py, with
PIPELINE_MAX_DELIVERIES=2; the worker is started again each time it dies, as the platform would.
The culprit makes its worker process exit; the innocent beside it does slow real work (a 60 MB
mail; a 40-DTE envelope the probe holds a little longer, see fault_probe.py), so it is in flight
when the worker dies and is counted a delivery that did not finish. After that the catch-up sends each on its own: the innocent comes through, the
culprit dies once more on its own turn, its next turn gives up, and later ticks never send it again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from pipeline import queues, samples
from pipeline.embedded_redis import EmbeddedRedis
from tests.integration.test_faults import PROBED_WORKER, base_env, folder_mailbox, mail, note, processed
from tests.support.database import attached_database
from tests.support.migrated import migrated_sqlite
from tests.support.processes import ProcfileProcess, wait_for
from webapp.documents.models import Document
from webapp.inbox.models import Attachment, MailMessage

pytestmark = [pytest.mark.slow]

#: DTE in the envelope read beside the render bomb (the probe keeps it in flight: its name is slow*).
ENVELOPE_DTE = 40


@pytest.fixture
def stack(tmp_path):
    """Redis and a migrated SQLite database of their own, an inbox folder, a folder for the logs."""
    with EmbeddedRedis.start(tmp_path / "redis") as server:
        env = dict(base_env(tmp_path, server.url), PIPELINE_MAX_DELIVERIES="2")
        env["DATABASE_URL"] = migrated_sqlite(tmp_path / "stack.sqlite3", env)
        (tmp_path / "logs").mkdir()
        (tmp_path / "inbox").mkdir()
        yield env, server


class Processes:
    """The scheduler and a worker that is started again whenever it dies; its deaths are kept."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.env, self.logs = env, logs
        self.deaths: list[int] = []
        self.scheduler = ProcfileProcess("scheduler", env, logs)
        self.worker = ProcfileProcess("worker", env, logs, command=PROBED_WORKER)

    def run_until(self, done: Callable[[], bool], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"not settled; deaths {self.deaths}\n{self.worker.log()[-3000:]}")
            if not self.worker.alive():  # a worker process died; the master exited too
                self.deaths.append(self.worker.process.returncode)
                self.worker.stop()
                self.worker = ProcfileProcess("worker", self.env, self.logs, command=PROBED_WORKER)
            time.sleep(0.2)  # a poll, not wait_for: a dead worker is started again on the way

    def more_ticks(self, redis_url: str, count: int = 3) -> None:
        """`count` more ticks (2 s apart: 3 are past a stale period of 3 s) handled, and all they sent."""
        handled = self.worker.log().count("tick done in")
        client = redis.Redis.from_url(redis_url)
        try:
            wait_for(
                lambda: (
                    self.worker.log().count("tick done in") >= handled + count
                    and all(q["ready"] == 0 for q in queues.queue_stats(client).values())
                ),
                timeout=30,
                what=f"{count} more ticks handled",
                processes=[self.worker, self.scheduler],
            )
        finally:
            client.close()

    def stop(self) -> list[int]:
        return [p.stop() for p in (self.worker, self.scheduler)]


def test_a_mail_that_kills_the_worker_is_quarantined_and_its_neighbour_in_flight_is_saved(
    tmp_path, stack, django_db_blocker
):
    env, server = stack
    inbox = tmp_path / "inbox"
    big = [(f"scan-{n}.bin", "application/octet-stream", os.urandom(1024) * (20 * 1024 + n)) for n in range(3)]
    (inbox / "01-big.eml").write_bytes(mail(1, *big))
    # the poison comes after a 20 MB part: its neighbour has begun, whichever thread took which first
    before = ("before.bin", "application/octet-stream", os.urandom(1024) * 20 * 1024)
    (inbox / "02-poison.eml").write_bytes(mail(2, before, note("poison.txt")))
    for n in range(3, 7):
        (inbox / f"{n:02d}.eml").write_bytes(mail(n, note(f"ok-{n}.txt")))
    with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
        folder_mailbox(db, inbox)
        messages = MailMessage.objects.using(db)
        started = time.monotonic()
        processes = Processes(env, tmp_path / "logs")
        try:
            processes.run_until(
                lambda: messages.filter(settled_at__isnull=False).count() == 6,  # processed or quarantined
                timeout=120,
            )
            took = time.monotonic() - started
            processes.more_ticks(server.url)
        finally:
            codes = processes.stop()
        rows = {m.source_id: m for m in messages.all()}
    poison, neighbour = rows.pop("02-poison.eml"), rows.pop("01-big.eml")
    assert poison.status == MailMessage.Status.QUARANTINED and "Gave up after 2 deliveries" in poison.error
    assert poison.delivery_attempts == 3 and len(processes.deaths) == 2, (poison.delivery_attempts, processes.deaths)
    # in flight when the poison killed the worker (a delivery that did not finish), then saved on its own
    assert neighbour.status == MailMessage.Status.PROCESSED and neighbour.delivery_attempts == 2
    assert all(m.status == MailMessage.Status.PROCESSED and m.delivery_attempts <= 2 for m in rows.values()), rows
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["01-big.eml", *sorted(rows)]
    assert (inbox / "failed" / "02-poison.eml").exists()
    assert codes == [0, 0]
    print(f"\npoison beside a 60 MB mail: worker died {len(processes.deaths)} times; settled in {took:.1f} s")


def test_a_file_that_kills_the_worker_while_rendering_is_given_up_and_its_neighbour_rendered(
    tmp_path, stack, django_db_blocker
):
    env, server = stack
    # A suspect's lone delivery is in flight for one stale period (deliveries.py): the envelope's lone
    # render must end within it, or the bomb's turn comes while it still renders and kills it a second
    # time. In production that is 10 min against a render's 2 min time limit; 3 s was not, under load.
    env = dict(env, PIPELINE_STALE_SECONDS="10")
    ticks_past_the_stale_period = 6
    inbox = tmp_path / "inbox"
    # reading and recording its DTE took longer than the bomb's turn only by chance: the probe holds it
    envelope = samples.envio_dte(documents=[samples.Dte(folio=1000 + n) for n in range(ENVELOPE_DTE)])
    (inbox / "01-envelope.eml").write_bytes(mail(1, ("slow-envio.xml", "application/xml", envelope)))
    for n in (2, 3):  # the usual pair: a DTE XML and its PDF
        (inbox / f"{n:02d}.eml").write_bytes(samples.supplier_email(folio=n, message_id=f"<pair-{n}@b.cl>"))
    (inbox / "04-bomb.eml").write_bytes(mail(4, ("bomb.xml", "application/xml", samples.dte_xml(folio=4))))
    with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
        folder_mailbox(db, inbox)
        attachments = Attachment.objects.using(db)
        started = time.monotonic()
        processes = Processes(env, tmp_path / "logs")
        try:
            processes.run_until(
                lambda: (
                    processed(db) == 4
                    and not attachments.filter(preview_status=Attachment.PreviewStatus.PENDING).exists()
                ),
                timeout=120,
            )
            took = time.monotonic() - started
            processes.more_ticks(server.url, ticks_past_the_stale_period)
        finally:
            codes = processes.stop()
        rows = {a.original_filename + f"@{a.message.source_id}": a for a in attachments.select_related("message")}
        documents = Document.objects.using(db).count()
    bomb, neighbour = rows.pop("bomb.xml@04-bomb.eml"), rows.pop("slow-envio.xml@01-envelope.eml")
    assert bomb.preview_status == Attachment.PreviewStatus.FAILED
    assert bomb.preview_error == "gave up: making the preview did not finish 2 times"
    assert bomb.delivery_attempts == 2 and len(processes.deaths) == 2, (bomb.delivery_attempts, processes.deaths)
    # in flight when the bomb killed the worker (a render that never reported back), then read on its own; an
    # envelope's printables are drawn by the worker, so its preview is READY
    assert neighbour.preview_status == Attachment.PreviewStatus.READY and neighbour.delivery_attempts == 1, (
        neighbour.preview_status,
        neighbour.preview_error,
        neighbour.delivery_attempts,
    )
    assert len(rows) == 4 and all(a.preview_status == _done(a) for a in rows.values()), rows
    assert documents == ENVELOPE_DTE + 2
    assert codes == [0, 0]
    print(
        f"\nrender bomb beside a {ENVELOPE_DTE}-DTE envelope: worker died {len(processes.deaths)} times; settled in {took:.1f} s"
    )


def _done(attachment: Attachment) -> str:
    """The preview status of a lone DTE's XML or a PDF the worker is done with (a PDF's thumbnail and a lone
    DTE's printable, and so its XML's preview, wait for their first request)."""
    if attachment.content_type == "application/pdf":
        return Attachment.PreviewStatus.ON_REQUEST
    return Attachment.PreviewStatus.NONE
