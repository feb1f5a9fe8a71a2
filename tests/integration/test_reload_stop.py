"""A deploy's stop that lands during a reload: the Procfile's worker still exits cleanly.

A reload (SIGHUP to the Dramatiq master, as recycling sends it) stops the worker process, then
the master re-executes itself and forks a new one. A platform's SIGTERM, sent to the whole
process group, can arrive at any moment of that: while the new master image starts, while the
new worker process imports the actors, once it runs. Each case must end in a graceful stop with
exit 0, never in a kill ("Killing worker process", exit 1) or death by the signal (-15).
"""

from __future__ import annotations

import signal
import time

import psutil
import pytest

from pipeline.embedded_redis import EmbeddedRedis
from tests.support.migrated import migrated_sqlite
from tests.support.processes import ProcfileProcess, wait_for

pytestmark = [pytest.mark.slow]

# Seconds after the old worker process is gone: the new image starting (0.5), the new worker
# process importing the actors (1.0-1.3, where the plain `dramatiq` command failed), running (1.6).
OFFSETS = (0.5, 1.0, 1.1, 1.3, 1.6)


def _children(pid: int) -> set[int]:
    try:
        return {child.pid for child in psutil.Process(pid).children()}
    except psutil.NoSuchProcess:
        return set()


@pytest.fixture(scope="module")
def worker_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("reload-stop")
    with EmbeddedRedis.start(home / "redis") as redis_server:
        env = {
            "STATE_DIR": str(home / "state"),
            "REDIS_URL": redis_server.url,
            "SECRET_KEY": "reload-stop-test-secret-key-0123456789-abcdefghijklmnop",
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "LOG_FORMAT": "plain",
        }
        env["DATABASE_URL"] = migrated_sqlite(home / "stack.sqlite3", env)
        yield env


@pytest.mark.parametrize("offset", OFFSETS)
def test_a_stop_during_a_reload_is_graceful(offset, worker_env, tmp_path):
    worker = ProcfileProcess("worker", worker_env, tmp_path)
    try:
        old = wait_for(lambda: _children(worker.pid), timeout=30, what="a worker process", processes=[worker])
        wait_for(lambda: "Worker process is ready" in worker.log(), timeout=30, what="ready", processes=[worker])
        worker.process.send_signal(signal.SIGHUP)
        wait_for(lambda: not (_children(worker.pid) & old), timeout=30, interval=0.02, what="the old process gone")
        time.sleep(offset)
    finally:
        exit_code = worker.stop(timeout=30)
    log = worker.log()
    assert "Killing worker process" not in log, log[-3000:]
    assert exit_code == 0, log[-3000:]
