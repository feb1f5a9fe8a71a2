"""Recycling where the Dramatiq master is PID 1, as in a container whose first process is bin/procfile.

The Procfile's worker line runs through bin/procfile under `unshare --pid --fork --mount-proc`, so
the master is PID 1 of a PID namespace of its own (Docker without an init, Railway). With
WORKER_MAX_MESSAGES small, the worker process must still ask for its reload and be replaced, and
every mail be saved exactly once.
"""

from __future__ import annotations

import re
from pathlib import Path

import psutil
import pytest
from dramatiq import Message

from pipeline import samples
from pipeline.broker import build_broker
from pipeline.embedded_redis import EmbeddedRedis
from tests.support.database import attached_database
from tests.support.processes import ProcfileProcess, as_pid_1, need_pid_1, run_procfile_once, wait_for
from webapp.inbox.models import Attachment, FetchRun, Mailbox, MailMessage

pytestmark = [pytest.mark.slow]

MAILS = 12
MAX_MESSAGES = 5  # about 26 messages (tick, fetch, a save and a preview per mail): several reloads


def namespace_pids(pid: int) -> list[int]:
    """A process's pid in each PID namespace it is in, outermost first (/proc's NSpid)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return [int(part) for part in line.split()[1:]]
    raise AssertionError(f"no NSpid in /proc/{pid}/status")


def master_of(unshare: ProcfileProcess) -> psutil.Process | None:
    """The dramatiq master: the one child of `unshare --fork`, PID 1 of the new namespace."""
    children = psutil.Process(unshare.pid).children()
    return children[0] if children else None


def worker_children(master: psutil.Process) -> set[int]:
    try:
        return {child.pid for child in master.children()}
    except psutil.NoSuchProcess:
        return set()


def test_a_master_that_is_pid_1_recycles_its_worker_process(tmp_path, django_db_blocker):
    need_pid_1()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for folio in range(3001, 3001 + MAILS):
        (inbox / f"{folio}.eml").write_bytes(samples.supplier_email(folio=folio))
    with EmbeddedRedis.start(tmp_path / "redis") as redis_server:
        env = {
            "STATE_DIR": str(tmp_path / "state"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'stack.sqlite3'}",
            "REDIS_URL": redis_server.url,
            "SECRET_KEY": "recycle-pid-1-secret-key-0123456789-abcdefghijklmnop",
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "WORKER_MAX_MESSAGES": str(MAX_MESSAGES),
            "LOG_FORMAT": "plain",
            "WORKER_SHUTDOWN_TIMEOUT_MS": "10000",
        }
        run_procfile_once("release", env)
        with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
            Mailbox.objects.using(db).create(name="suppliers", settings={"path": str(inbox)})
            worker = ProcfileProcess("worker", env, tmp_path, command=as_pid_1("worker"))
            try:
                master = wait_for(lambda: master_of(worker), timeout=30, what="the master", processes=[worker])
                first = wait_for(
                    lambda: worker_children(master), timeout=30, what="a worker process", processes=[worker]
                )
                assert namespace_pids(master.pid)[-1] == 1, "the master is PID 1 of its namespace"
                assert master.cmdline()[1].endswith("dramatiq"), "bin/procfile and env exec'd into the master"
                seen_pids = set(first)
                broker = build_broker(url=redis_server.url, with_django=False)
                broker.enqueue(Message(queue_name="default", actor_name="tick", args=(), kwargs={}, options={}))

                def done() -> bool:
                    seen_pids.update(worker_children(master))
                    return (
                        MailMessage.objects.using(db).filter(status=MailMessage.Status.PROCESSED).count() == MAILS
                        and not Attachment.objects.using(db)
                        .filter(preview_status=Attachment.PreviewStatus.PENDING)
                        .exists()
                    )

                wait_for(done, timeout=120, interval=0.1, what="every mail saved and previewed", processes=[worker])
                broker.close()
                assert master.is_running() and namespace_pids(master.pid)[-1] == 1, "reloaded in place, still PID 1"
            finally:
                exit_code = worker.stop()
            log = worker.log()

            messages = list(MailMessage.objects.using(db).all())
            assert len(messages) == MAILS
            assert [m.delivery_attempts for m in messages] == [1] * MAILS, "each save ran exactly once"
            assert Attachment.objects.using(db).filter(status=Attachment.Status.STORED).count() == 2 * MAILS
            assert FetchRun.objects.using(db).get().status == FetchRun.Status.COMPLETED

    reloads = re.findall(r"worker process (\d+) asks for a graceful reload: (\d+) messages", log)
    assert reloads, log[-4000:]
    assert all(int(count) == MAX_MESSAGES for _, count in reloads)
    assert seen_pids - first, "a new worker process served"
    assert "Traceback" not in log and "could not ask the master" not in log, log[-4000:]
    assert exit_code == 0, log[-3000:]
