"""Liveness from heartbeats, with the real processes: the Procfile's worker and scheduler.py.

`python -m pipeline.heartbeat worker|scheduler [--live]` is what the Kubernetes exec probes run: it
must pass while the process runs, and fail once it stopped (SIGTERM) or froze (stale heartbeat).
With --live (liveness) it reads the pod's own heartbeat files, so a Redis outage fails readiness
only and restarts no pod.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline import heartbeat
from pipeline.config import BASE_DIR
from pipeline.embedded_redis import EmbeddedRedis
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
        alive = probe("worker", env, "--live")
        assert alive.returncode == 0, alive.stderr
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
    assert probe("worker", env, "--live").returncode == heartbeat.STALE, "its heartbeat file went with it"


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


def _file_beat_after(role: str, env: dict[str, str], moment: float) -> bool:
    beats = heartbeat.host_files(role, hostname=socket.gethostname(), directory=heartbeat.beats_dir(env["STATE_DIR"]))
    return any(found.at > moment for found in beats.values())


def test_a_redis_outage_fails_readiness_and_leaves_liveness_alone(tmp_path):
    """A real Redis, stopped under a running worker and scheduler: their processes live on, and say so."""
    with EmbeddedRedis.start(tmp_path / "redis") as server:
        env = _env(
            tmp_path,
            server.url,
            REDIS_CONNECT_TIMEOUT="1",
            REDIS_SOCKET_TIMEOUT="2",
            SCHEDULE_CRON="0 0 1 1 *",
            SCHEDULER_TICK_ON_START="false",
        )
        processes = [ProcfileProcess("worker", env, tmp_path), ProcfileProcess("scheduler", env, tmp_path)]
        try:
            for role in ("worker", "scheduler"):
                wait_for(
                    lambda role=role: probe(role, env).returncode == 0 and probe(role, env, "--live").returncode == 0,
                    timeout=60,
                    what=f"the {role}'s heartbeats",
                    processes=processes,
                )
            stopped_at = time.time()
            server.stop()
            for role in ("worker", "scheduler"):
                wait_for(
                    lambda role=role: _file_beat_after(role, env, stopped_at),
                    timeout=heartbeat.DEFAULT_MAX_AGE_SECONDS[role],
                    what=f"a {role} heartbeat written while Redis is down",
                    processes=processes,
                )
                ready = probe(role, env)
                assert ready.returncode == heartbeat.UNREADABLE, ready.stdout
                assert "Redis did not answer" in ready.stderr
                alive = probe(role, env, "--live")
                assert alive.returncode == 0, alive.stderr
                assert f"{role} alive on {socket.gethostname()}" in alive.stdout
        finally:
            codes = [process.stop() for process in processes]
    assert codes == [0, 0], [process.log()[-3000:] for process in processes]
    assert [probe(role, env, "--live").returncode for role in ("worker", "scheduler")] == [heartbeat.STALE] * 2


def _plant(env: dict[str, str], pid: int, *, started: int | None, threads=(), role: str = "worker"):
    """A heartbeat file as a process `pid` that started at `started` (clock ticks since boot) writes it."""
    path = heartbeat.process_file(role, pid=pid, directory=heartbeat.beats_dir(env["STATE_DIR"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = [None if t.busy_since is None else [t.busy_since, t.time_limit] for t in threads]
    path.write_text(json.dumps({"at": time.time(), "threads": encoded, "started": started}))
    return path


def _exited_process() -> tuple[int, int]:
    """(pid, start time) of a real process that ran and has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    started = int(Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[19])
    child.communicate(timeout=30)
    return child.pid, started


def _own_start() -> int:
    return int(Path(f"/proc/{os.getpid()}/stat").read_text().rpartition(")")[2].split()[19])


def test_liveness_judges_a_stuck_worker_from_its_file(tmp_path):
    """The stuck-thread rule is the process's own: --live applies it as the Redis probe does."""
    env = _env(tmp_path, "redis://127.0.0.1:1/0")
    now = time.time()
    busy = heartbeat.ThreadState(busy_since=now - 400, time_limit=300)
    _plant(env, os.getpid(), started=_own_start(), threads=(busy, busy))
    stuck = probe("worker", env, "--live")
    assert stuck.returncode == heartbeat.STALE
    assert f"worker process {os.getpid()} of host {socket.gethostname()} is stuck" in stuck.stderr
    _plant(env, os.getpid(), started=_own_start(), threads=(busy, heartbeat.ThreadState()))
    assert probe("worker", env, "--live").returncode == 0, "one thread still serves"


def test_a_fresh_file_of_an_exited_process_does_not_pass_liveness(tmp_path):
    """A killed process's file outlives it on the pod's disk: the next container must not pass on it."""
    env = _env(tmp_path, "redis://127.0.0.1:1/0")
    pid, started = _exited_process()
    _plant(env, pid, started=started)
    dead = probe("worker", env, "--live")
    assert dead.returncode == heartbeat.STALE, dead.stdout
    assert "no worker heartbeat" in dead.stderr


def test_a_stuck_file_of_an_exited_process_does_not_fail_a_live_one(tmp_path):
    env = _env(tmp_path, "redis://127.0.0.1:1/0")
    pid, started = _exited_process()
    busy = heartbeat.ThreadState(busy_since=time.time() - 400, time_limit=300)
    _plant(env, pid, started=started, threads=(busy, busy))
    _plant(env, os.getpid(), started=_own_start(), threads=(heartbeat.ThreadState(),))
    alive = probe("worker", env, "--live")
    assert alive.returncode == 0, alive.stderr
    assert "1 fresh heartbeat(s)" in alive.stdout


def test_a_file_naming_a_live_pid_with_another_start_time_is_ignored(tmp_path):
    """A pid repeats (the scheduler is its container's first process): the start time tells the processes apart."""
    env = _env(tmp_path, "redis://127.0.0.1:1/0")
    _plant(env, os.getpid(), started=_own_start() - 1)
    other = probe("worker", env, "--live")
    assert other.returncode == heartbeat.STALE, other.stdout
    assert "no worker heartbeat" in other.stderr
    _plant(env, os.getpid(), started=_own_start())
    assert probe("worker", env, "--live").returncode == 0, "the same process's file counts"


def test_the_beat_file_is_written_through_a_new_file_not_a_link(tmp_path, monkeypatch):
    env = _env(tmp_path, "redis://127.0.0.1:1/0")
    monkeypatch.setenv("STATE_DIR", env["STATE_DIR"])
    path = heartbeat.process_file("worker", directory=heartbeat.beats_dir(env["STATE_DIR"]))
    path.parent.mkdir(parents=True)
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    path.with_name(f".{path.name}.tmp").symlink_to(target)
    heartbeat.beat_file("worker")
    assert target.read_text() == "untouched"
    assert not path.is_symlink()
    assert probe("worker", env, "--live").returncode == 0, "the test process's own beat"


def test_a_writer_removes_the_files_its_role_no_longer_counts(tmp_path, monkeypatch):
    """A Compose volume or an emptyDir outlives containers: each beat clears what dead processes left."""
    env = _env(tmp_path, "redis://127.0.0.1:1/0")
    monkeypatch.setenv("STATE_DIR", env["STATE_DIR"])
    pid, started = _exited_process()
    dead = _plant(env, pid, started=started)
    other_role = _plant(env, pid, started=started, role="scheduler")
    directory = heartbeat.beats_dir(env["STATE_DIR"])
    other_host = heartbeat.process_file("worker", hostname="recreated", pid=7, directory=directory)
    forgotten = heartbeat.process_file("worker", hostname="gone", pid=7, directory=directory)
    for path in (other_host, forgotten):
        path.write_text(heartbeat.Beat(at=time.time()).encode())
    os.utime(forgotten, (0, 0))
    heartbeat.beat_file("worker")
    assert not dead.exists() and not forgotten.exists()
    assert other_role.exists(), "another role's files are its own writer's"
    assert other_host.exists(), "another host's processes are not visible here: only age tells"
    assert heartbeat.process_file("worker").exists()
    heartbeat.beat_file("scheduler")
    assert not other_role.exists()


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
