"""The Procfile's web and worker give the memory a burst freed back once they sit idle, and
`make run` supervises its processes itself, with no Python process per process between them."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
from collections.abc import Iterable
from pathlib import Path

import psutil
import pytest
import requests
from dramatiq import Message

from pipeline.broker import build_broker
from pipeline.embedded_redis import EmbeddedRedis
from tests.support.processes import (
    ProcfileProcess,
    dramatiq_worker_processes,
    free_port,
    run_procfile_once,
    wait_for,
)

pytestmark = [pytest.mark.slow]

PASSWORD = "idle-memory-Secret-pass-42"
#: What `make run` runs.
MAKE_RUN = f"{sys.executable} -m webapp.run_local"


def _env(tmp_path, redis_url: str) -> dict[str, str]:
    return {
        "STATE_DIR": str(tmp_path / "state"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'idle.sqlite3'}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "idle-memory-test-secret-key-0123456789-abcdefghijkl",
        "DEBUG": "false",
        "HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_FORMAT": "plain",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_web_and_worker_release_memory_once_idle_after_a_burst(tmp_path):
    with EmbeddedRedis.start(tmp_path / "redis") as redis_server:
        env = _env(tmp_path, redis_server.url)
        run_procfile_once("release", env)
        port = free_port()
        web = ProcfileProcess("web", dict(env, PORT=str(port)), tmp_path)
        worker = ProcfileProcess("worker", dict(env, WORKER_IDLE_RELOAD_MB="1"), tmp_path)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: _answers(f"{base}/health/live"), timeout=60, what="the web", processes=[web])
            for _ in range(20):
                assert requests.get(f"{base}/admin/login/", timeout=10).status_code == 200
            wait_for(lambda: "memory released" in web.log(), timeout=60, what="the web's release", processes=[web])
            wait_for(lambda: "ready for action" in worker.log(), timeout=60, what="the worker", processes=[worker])
            broker = build_broker(url=redis_server.url, with_django=False)
            try:
                for _ in range(5):
                    broker.enqueue(Message(queue_name="default", actor_name="tick", args=(), kwargs={}, options={}))
            finally:
                broker.close()
            wait_for(
                lambda: "idle: memory released" in worker.log(),
                timeout=60,
                what="the worker's release",
                processes=[worker],
            )
            wait_for(
                lambda: worker.log().count("Worker process is ready for action.") == 2,
                timeout=60,
                what="a fresh worker process: idle, the first stayed bigger than it started",
                processes=[worker],
            )
        finally:
            web.stop()
            worker.stop()
    assert "idle after 21 requests: memory released, RSS" in web.log()  # /health/live and the burst: once
    assert "asks for a graceful reload: idle at" in worker.log()


def _make_run_env(home: Path, state: Path, **extra: str) -> dict[str, str]:
    return {
        "STATE_DIR": str(state),
        "PORT": str(free_port()),
        "ADMIN_PASSWORD": PASSWORD,
        "WORKER_SHUTDOWN_TIMEOUT_MS": "2000",
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        **extra,
    }


@pytest.fixture(scope="module")
def set_up_state(tmp_path_factory) -> Path:
    """A state folder a `make run` set up (migrated, its admin user and demo mailbox), copied by each test:
    the set-up from nothing is what takes a `make run` longest, and test_second_terminal does it."""
    home = tmp_path_factory.mktemp("make-run-set-up")
    env = _make_run_env(home, home / "state", SCHEDULER_TICK_ON_START="false")
    run = ProcfileProcess("make-run", env, home, command=MAKE_RUN)
    try:
        wait_for(lambda: "Open http://" in run.log(), timeout=120, what="make run's set-up", processes=[run])
    finally:
        run.stop(signal.SIGINT, timeout=60)
    return home / "state"


def _make_run(tmp_path: Path, set_up_state: Path, **extra: str) -> tuple[ProcfileProcess, Path]:
    """`make run` over a copy of the set-up state folder, once its web answers and its worker and scheduler run."""
    state = tmp_path / "state"
    shutil.copytree(set_up_state, state, ignore=shutil.ignore_patterns("*.ctl"))
    env = _make_run_env(tmp_path, state, SCHEDULER_TICK_ON_START="false", **extra)
    run = ProcfileProcess("make-run", env, tmp_path, command=MAKE_RUN)
    ready = ("Worker process is ready for action.", "scheduler started", "Booting worker with pid")
    wait_for(
        lambda: all(line in run.log() for line in ready), timeout=120, what="make run's processes", processes=[run]
    )
    wait_for(lambda: _answers(f"http://127.0.0.1:{env['PORT']}/health/live"), timeout=60, processes=[run])
    return run, state


def _groups(log: str) -> dict[str, int]:
    """The process group of each Procfile process make run started: each leads its own, its pid."""
    return {name: int(pid) for name, pid in re.findall(r"system  \| (\w+)\.1 started \(pid=(\d+)\)", log)}


def _left_behind(state: Path, groups: Iterable[int]) -> list[str]:
    """Every process still running (zombies are dead) that has `state` as its STATE_DIR or is in one of `groups`."""
    groups = set(groups)
    found = []
    for process in psutil.process_iter(["status", "environ", "cmdline"]):
        try:
            in_a_group = os.getpgid(process.pid) in groups
        except ProcessLookupError:
            continue
        ours = (process.info["environ"] or {}).get("STATE_DIR") == str(state)
        if (in_a_group or ours) and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(f"{process.pid}: {' '.join(process.info['cmdline'] or [])}")
    return found


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _children(run: ProcfileProcess, word: str) -> list[psutil.Process]:
    return [c for c in psutil.Process(run.pid).children() if word in " ".join(c.cmdline())]


def test_make_run_runs_the_procfile_processes_as_its_own_children(tmp_path, set_up_state):
    run, state = _make_run(tmp_path, set_up_state)
    try:
        children = [" ".join(child.cmdline()) for child in psutil.Process(run.pid).children()]
    finally:
        status = run.stop(signal.SIGINT, timeout=60)  # Ctrl-C
    assert status == 128 + signal.SIGINT
    assert sorted(
        next(w for w in ("redis-server", "gunicorn", "dramatiq", "scheduler.py") if w in c) for c in children
    ) == [
        "dramatiq",
        "gunicorn",
        "redis-server",
        "scheduler.py",
    ], children
    log = run.log()
    assert "web.1" in log and "worker.1" in log and "scheduler.1" in log  # each line under its process's name
    assert log.index("sending SIGTERM to web.1") < log.index("Redis stopped.")  # all stopped, then Redis
    assert not _left_behind(state, _groups(log).values())
    # The lines each process prints last, as it stops, are all printed before make run ends.
    assert re.search(r"web\.1 +\| .*Shutting down: Master", log), log[-3000:]
    assert re.search(r"worker\.1 +\| .*Worker has been shut down\.", log), log[-3000:]
    assert re.search(r"scheduler\.1\| .*scheduler stopped", log), log[-3000:]


def test_a_leader_that_dies_stops_make_run_and_its_group_and_then_its_redis(tmp_path, set_up_state):
    """A gunicorn and a dramatiq master killed leave their workers in their groups: make run stops those too."""
    run, state = _make_run(tmp_path, set_up_state)
    try:
        (gunicorn,) = _children(run, "gunicorn")
        (dramatiq,) = _children(run, "dramatiq")
        (redis,) = _children(run, "redis-server")
        workers = [*gunicorn.children(), *map(psutil.Process, dramatiq_worker_processes(dramatiq))]
        assert len(workers) == 2, workers
        gunicorn.kill()
        dramatiq.kill()
        assert run.process.wait(timeout=60) == 128 + signal.SIGKILL  # make run's status is the process's
    finally:
        run.stop(signal.SIGINT, timeout=60)
    log = run.log()
    assert "sending SIGTERM to web.1" in log and "sending SIGTERM to worker.1" in log, log[-3000:]
    assert "Redis stopped." in log and not redis.is_running()
    assert not [worker for worker in workers if _running(worker)]
    assert not _left_behind(state, _groups(log).values())


def test_a_second_ctrl_c_kills_what_the_first_left_stopping(tmp_path, set_up_state):
    """The first Ctrl-C gives the processes an hour to stop; the scheduler cannot (stopped), a second one kills it."""
    run, state = _make_run(tmp_path, set_up_state, WORKER_SHUTDOWN_TIMEOUT_MS="3600000")
    try:
        (scheduler,) = _children(run, "scheduler.py")
        scheduler.suspend()  # SIGSTOP: the SIGTERM stays pending, as for a process stuck in its stop
        os.kill(run.pid, signal.SIGINT)
        wait_for(lambda: "sending SIGTERM to scheduler.1" in run.log(), timeout=30, processes=[run])
        os.kill(run.pid, signal.SIGINT)
        assert run.process.wait(timeout=60) == 128 + signal.SIGINT
    finally:
        run.stop(signal.SIGINT, timeout=60)
    log = run.log()
    assert f"sent SIGKILL to scheduler.1 (pid {scheduler.pid}): a second signal" in log, log[-3000:]
    assert "scheduler.1 stopped (rc=-9)" in log and "Redis stopped." in log
    assert not _left_behind(state, _groups(log).values())
