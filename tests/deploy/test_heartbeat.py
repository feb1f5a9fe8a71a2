"""Liveness from heartbeats, with the real processes: the Procfile's worker and scheduler.py.

`python -m pipeline.heartbeat worker|scheduler` is what the Kubernetes exec probes run: it must
pass while the process runs, and fail once it stopped (SIGTERM) or froze (stale heartbeat).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from pipeline import heartbeat
from pipeline.config import BASE_DIR
from pipeline.middleware.heartbeat import Heartbeat
from tests.support.processes import ProcfileProcess, free_port, wait_for

pytestmark = [pytest.mark.slow]


def _env(tmp_path, redis_url: str, **extra: str) -> dict[str, str]:
    return {
        "STATE_DIR": str(tmp_path / "state"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "heartbeat-test-secret-key-0123456789-abcdefghijklmnop",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        **extra,
    }


def probe(role: str, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    """The exec probe, as the kubelet runs it in the container."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.heartbeat", role, *extra],
        check=False,
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    )


def _fresh(role: str, redis_client) -> bool:
    return heartbeat.check(role, max_age=60, client=redis_client)[0] == heartbeat.OK


def test_worker_heartbeat_passes_while_the_worker_runs_and_fails_once_it_stopped(tmp_path, redis_url, redis_client):
    env = _env(tmp_path, redis_url)
    worker = ProcfileProcess("worker", env, tmp_path)
    try:
        wait_for(lambda: _fresh("worker", redis_client), timeout=60, what="a worker heartbeat", processes=[worker])
        running = probe("worker", env)
        assert running.returncode == 0, running.stderr
        assert "worker alive on" in running.stdout
        (key,) = [k.decode() for k in redis_client.keys("invoicemail:worker:*")]
        _, _, host, pid, _ = key.split(":")
        assert host == socket.gethostname()
        assert int(pid) != worker.pid, "written by the worker process, not by the master"
        assert 0 < redis_client.ttl(key) <= heartbeat.WORKER_TTL_SECONDS
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
    stopped = probe("worker", env)
    assert stopped.returncode == heartbeat.STALE
    assert (
        stopped.stderr.strip()
        == f"no worker heartbeat for host {socket.gethostname()}: the process is not running or never booted"
    )
    assert len(stopped.stderr.strip().splitlines()) == 1


def test_a_killed_worker_leaves_a_heartbeat_that_goes_stale(tmp_path, redis_url, redis_client):
    env = _env(tmp_path, redis_url)
    worker = ProcfileProcess("worker", env, tmp_path)
    try:
        wait_for(lambda: _fresh("worker", redis_client), timeout=60, what="a worker heartbeat", processes=[worker])
    finally:
        worker.stop(signal.SIGKILL)  # no clean-up: the key stays until its TTL
    assert redis_client.keys("invoicemail:worker:*")
    wait_for(
        lambda: heartbeat.check("worker", max_age=2, client=redis_client)[0] == heartbeat.STALE,
        timeout=10,
        interval=0.1,
        what="the dead worker's heartbeat to pass 2 s",
    )
    stale = probe("worker", env, "--max-age", "2")
    assert stale.returncode == heartbeat.STALE
    assert "s old (more than 2s)" in stale.stderr


def test_scheduler_heartbeat_passes_while_it_runs_and_fails_once_it_stopped(tmp_path, redis_url, redis_client):
    env = _env(tmp_path, redis_url, SCHEDULE_CRON="0 0 1 1 *", SCHEDULER_TICK_ON_START="false")
    scheduler = ProcfileProcess("scheduler", env, tmp_path)
    try:
        wait_for(
            lambda: _fresh("scheduler", redis_client), timeout=30, what="a scheduler heartbeat", processes=[scheduler]
        )
        running = probe("scheduler", env)
        assert running.returncode == 0, running.stderr
        assert redis_client.exists(f"invoicemail:scheduler:{socket.gethostname()}:{scheduler.pid}:heartbeat")
        assert probe("worker", env).returncode == heartbeat.STALE, "the roles do not answer for each other"
    finally:
        assert scheduler.stop() == 0, scheduler.log()[-3000:]
    stopped = probe("scheduler", env)
    assert stopped.returncode == heartbeat.STALE
    assert "no scheduler heartbeat" in stopped.stderr
    # The shared key that pipeline_status reads is left to expire: another replica may still be running.
    assert redis_client.exists("invoicemail:scheduler:heartbeat")


def test_an_unreachable_redis_is_its_own_failure(tmp_path):
    env = _env(tmp_path, f"redis://127.0.0.1:{free_port()}/0", REDIS_CONNECT_TIMEOUT="1")
    result = probe("worker", env)
    assert result.returncode == heartbeat.UNREADABLE
    assert result.stderr.strip() == "worker heartbeat unreadable: Redis did not answer (ConnectionError)"
    assert env["REDIS_URL"] not in result.stderr  # a URL may carry a password


def test_glob_characters_in_a_hostname_match_only_themselves(redis_client):
    redis_client.set("invoicemail:worker:pod-a:1:heartbeat", f"{time.time()}")
    assert heartbeat.host_beats(redis_client, "worker", hostname="pod-*") == {}
    assert set(heartbeat.host_beats(redis_client, "worker", hostname="pod-a")) == {
        "invoicemail:worker:pod-a:1:heartbeat"
    }


class _FakeWorker:
    def __init__(self, threads: list[threading.Thread]):
        self.consumers = {"default": threads[0]}
        self.workers = threads[1:]


def test_a_process_whose_threads_died_withholds_its_heartbeat():
    alive = threading.Thread(target=threading.Event().wait, args=(5,), daemon=True, name="alive")
    dead = threading.Thread(target=lambda: None, name="worker-thread-0")
    alive.start(), dead.start(), dead.join()
    assert Heartbeat.problem(_FakeWorker([alive, alive])) is None
    assert Heartbeat.problem(_FakeWorker([alive, dead])) == "threads stopped: worker-thread-0"
    assert Heartbeat.problem(_FakeWorker([alive])) == "no worker thread"


def test_an_in_process_worker_writes_no_heartbeat(redis_client):
    """Only a worker process of the dramatiq command beats: tests' in-process Workers stay silent."""
    middleware = Heartbeat()
    middleware.after_worker_boot(None, _FakeWorker([threading.current_thread()] * 2))
    assert middleware._thread is None
    assert not redis_client.keys("invoicemail:worker:*")


def test_the_probe_loads_neither_django_nor_dramatiq(tmp_path):
    code = "import sys, pipeline.heartbeat\nprint(sorted(m.split('.')[0] for m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ, STATE_DIR=str(tmp_path)),
        check=True,
    ).stdout
    assert "'django'" not in out and "'dramatiq'" not in out
