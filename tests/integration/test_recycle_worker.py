"""Recycling with the real worker process: the Procfile's dramatiq command, reloaded by SIGHUP.

Many e-mails go through the real actors while WORKER_MAX_MESSAGES is small, so the worker
process is replaced several times mid-stream. Every message must be saved exactly once
(one delivery each), every DTE read, and the worker pid must have changed.
"""

from __future__ import annotations

import re

import psutil
import pytest
from dramatiq import Message

from pipeline import samples
from pipeline.broker import build_broker
from pipeline.embedded_redis import EmbeddedRedis
from tests.support.database import attached_database
from tests.support.migrated import migrated_sqlite
from tests.support.processes import ProcfileProcess, wait_for
from webapp.inbox.models import Attachment, FetchRun, Mailbox, MailMessage

pytestmark = [pytest.mark.slow]

#: 152 messages (a tick, a fetch, then a save a mail: it parses its small XML itself). A process works on
#: for up to 1 s after asking, some 60 messages: fewer mails would all be served before a second process
#: could ask.
MAILS = 150
MAX_MESSAGES = 12


def _worker_children(master_pid: int) -> set[int]:
    try:
        return {child.pid for child in psutil.Process(master_pid).children()}
    except psutil.NoSuchProcess:
        return set()


def test_reloads_lose_and_repeat_nothing(tmp_path, django_db_blocker):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for folio in range(2001, 2001 + MAILS):  # distinct DTE: every one is read
        (inbox / f"{folio}.eml").write_bytes(samples.supplier_email(folio=folio))
    with EmbeddedRedis.start(tmp_path / "redis") as redis_server:
        env = {
            "STATE_DIR": str(tmp_path / "state"),
            "REDIS_URL": redis_server.url,
            "SECRET_KEY": "recycle-test-secret-key-0123456789-abcdefghijklmnop",
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "WORKER_MAX_MESSAGES": str(MAX_MESSAGES),
            "LOG_FORMAT": "plain",
            "WORKER_SHUTDOWN_TIMEOUT_MS": "20000",
        }
        env["DATABASE_URL"] = migrated_sqlite(tmp_path / "stack.sqlite3", env)
        with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
            Mailbox.objects.using(db).create(name="suppliers", settings={"path": str(inbox)})
            worker = ProcfileProcess("worker", env, tmp_path)
            try:
                first = wait_for(
                    lambda: _worker_children(worker.pid), timeout=30, what="a worker process", processes=[worker]
                )
                seen_pids = set(first)
                broker = build_broker(url=redis_server.url, with_django=False)
                broker.enqueue(Message(queue_name="default", actor_name="tick", args=(), kwargs={}, options={}))

                def done() -> bool:
                    seen_pids.update(_worker_children(worker.pid))
                    messages = MailMessage.objects.using(db)
                    return (
                        messages.filter(status=MailMessage.Status.PROCESSED).count() == MAILS
                        and not Attachment.objects.using(db)
                        .filter(preview_status=Attachment.PreviewStatus.PENDING)
                        .exists()
                    )

                wait_for(done, timeout=180, interval=0.1, what="every mail saved and previewed", processes=[worker])
                broker.close()
            finally:
                exit_code = worker.stop()
            log = worker.log()

            messages = list(MailMessage.objects.using(db).all())
            assert len(messages) == MAILS
            assert all(m.status == MailMessage.Status.PROCESSED for m in messages)
            assert [m.delivery_attempts for m in messages] == [1] * MAILS, "each save ran exactly once"
            attachments = Attachment.objects.using(db)
            assert attachments.count() == 2 * MAILS
            assert attachments.filter(status=Attachment.Status.STORED).count() == 2 * MAILS
            assert not attachments.filter(
                preview_status__in=[Attachment.PreviewStatus.PENDING, Attachment.PreviewStatus.FAILED]
            ).exists()
            assert FetchRun.objects.using(db).get().status == FetchRun.Status.COMPLETED

    reloads = re.findall(r"worker process (\d+) asks for a graceful reload: (\d+) messages", log)
    assert len(reloads) >= 2, log[-4000:]
    assert all(int(count) == MAX_MESSAGES for _, count in reloads)
    assert len({pid for pid, _ in reloads}) == len(reloads), "once per process"
    assert len(seen_pids) > len(first) and seen_pids - first, "the worker pid changed"
    assert "prefetch 2," in log, "dramatiq_queue_prefetch from the Procfile takes effect"
    assert "Traceback" not in log, log[-4000:]
    assert exit_code == 0, log[-3000:]
