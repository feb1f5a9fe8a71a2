"""Recycling where the Dramatiq master is PID 1, as in a container whose first process is bin/procfile.

The Procfile's worker line runs through bin/procfile under `unshare --pid --fork --mount-proc`, so
the master is PID 1 of a PID namespace of its own (Docker without an init, Railway). With
WORKER_MAX_MESSAGES small, the first worker process must ask for its reload and be replaced; a
second batch of mail, sent once it is gone, is served by the new one, and every mail is saved
exactly once.
"""

from __future__ import annotations

import re

import pytest
from dramatiq import Message

from pipeline import samples
from pipeline.broker import build_broker
from pipeline.embedded_redis import EmbeddedRedis
from tests.support.database import attached_database
from tests.support.migrated import migrated_sqlite
from tests.support.processes import (
    ProcfileProcess,
    as_pid_1,
    dramatiq_idle,
    dramatiq_settled,
    dramatiq_worker_processes,
    namespace_pid,
    need_pid_1,
    pid_1_process,
    wait_for,
)
from webapp.inbox.models import Attachment, FetchRun, Mailbox, MailMessage

pytestmark = [pytest.mark.slow]

FIRST_BATCH = range(3001, 3009)
SECOND_BATCH = range(3009, 3010)
#: The first batch is 10 messages (a tick, a fetch, then a save per mail, which parses its small XML
#: itself): a reload. What the first process leaves (2 at the most) and the second batch (3) are fewer:
#: the next worker process serves them without a reload of its own, which would boot a third one.
MAX_MESSAGES = 10


def tick() -> Message:
    return Message(queue_name="default", actor_name="tick", args=(), kwargs={}, options={})


def test_a_master_that_is_pid_1_recycles_its_worker_process(tmp_path, django_db_blocker):
    need_pid_1()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for folio in FIRST_BATCH:
        (inbox / f"{folio}.eml").write_bytes(samples.supplier_email(folio=folio))
    with EmbeddedRedis.start(tmp_path / "redis") as redis_server:
        env = {
            "STATE_DIR": str(tmp_path / "state"),
            "REDIS_URL": redis_server.url,
            "SECRET_KEY": "recycle-pid-1-secret-key-0123456789-abcdefghijklmnop",
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "WORKER_MAX_MESSAGES": str(MAX_MESSAGES),
            "LOG_FORMAT": "plain",
            "WORKER_SHUTDOWN_TIMEOUT_MS": "10000",
        }
        env["DATABASE_URL"] = migrated_sqlite(tmp_path / "stack.sqlite3", env)
        with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
            Mailbox.objects.using(db).create(name="suppliers", settings={"path": str(inbox)})
            worker = ProcfileProcess("worker", env, tmp_path, command=as_pid_1("worker"))
            broker = build_broker(url=redis_server.url, with_django=False)
            try:
                master = wait_for(
                    lambda: pid_1_process(worker, "dramatiq"), timeout=30, what="the master", processes=[worker]
                )
                first = wait_for(
                    lambda: dramatiq_worker_processes(master), timeout=30, what="a worker process", processes=[worker]
                )
                assert namespace_pid(master.pid) == 1, "the master is PID 1 of its namespace"

                def processed(folios: range) -> bool:
                    saved = MailMessage.objects.using(db).filter(status=MailMessage.Status.PROCESSED).count()
                    pending = Attachment.objects.using(db).filter(preview_status=Attachment.PreviewStatus.PENDING)
                    return saved == folios.stop - FIRST_BATCH.start and not pending.exists()

                def replaced() -> set[int]:
                    current = dramatiq_worker_processes(master)
                    return current if current and not current & first else set()

                broker.enqueue(tick())
                wait_for(lambda: processed(FIRST_BATCH), timeout=90, what="the first batch", processes=[worker])
                second = wait_for(replaced, timeout=60, what="a new worker process", processes=[worker])

                for folio in SECOND_BATCH:
                    (inbox / f"{folio}.eml").write_bytes(samples.supplier_email(folio=folio))
                broker.enqueue(tick())
                wait_for(lambda: processed(SECOND_BATCH), timeout=90, what="the second batch", processes=[worker])
                assert not dramatiq_worker_processes(master) & first, "the first worker process did not come back"
                assert master.is_running() and namespace_pid(master.pid) == 1, "reloaded in place, still PID 1"
                wait_for(
                    lambda: dramatiq_idle(redis_server.url) and dramatiq_settled(worker.log()),
                    timeout=60,
                    what="the worker idle, with no reload under way",
                    processes=[worker],
                )
            finally:
                broker.close()
                exit_code = worker.stop()
            log = worker.log()

            messages = list(MailMessage.objects.using(db).all())
            assert len(messages) == len(FIRST_BATCH) + len(SECOND_BATCH)
            assert [m.delivery_attempts for m in messages] == [1] * len(messages), "each save ran exactly once"
            assert Attachment.objects.using(db).filter(status=Attachment.Status.STORED).count() == 2 * len(messages)
            assert set(FetchRun.objects.using(db).values_list("status", flat=True)) == {FetchRun.Status.COMPLETED}

    reloads = re.findall(r"worker process (\d+) asks for a graceful reload: (\d+) messages", log)
    assert reloads and all(int(count) == MAX_MESSAGES for _, count in reloads), log[-4000:]
    assert second and not second & first
    assert "Traceback" not in log and "could not ask the master" not in log, log[-4000:]
    assert exit_code == 0, log[-3000:]
