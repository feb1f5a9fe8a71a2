"""The Procfile's web and worker give the memory a burst freed back once they sit idle, and
`make run` supervises its processes itself, with no Python process per process between them."""

from __future__ import annotations

import signal
import sys

import psutil
import pytest
import requests
from dramatiq import Message

from pipeline.broker import build_broker
from pipeline.embedded_redis import EmbeddedRedis
from tests.support.processes import ProcfileProcess, free_port, run_procfile_once, wait_for

pytestmark = [pytest.mark.slow]

PASSWORD = "idle-memory-Secret-pass-42"


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
        worker = ProcfileProcess("worker", env, tmp_path)
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
        finally:
            web.stop()
            worker.stop()
    assert "idle after 21 requests: memory released, RSS" in web.log()  # /health/live and the burst: once


def _make_run(tmp_path) -> tuple[ProcfileProcess, int]:
    port = free_port()
    env = {
        "STATE_DIR": str(tmp_path / "state"),
        "PORT": str(port),
        "ADMIN_PASSWORD": PASSWORD,
        "WORKER_SHUTDOWN_TIMEOUT_MS": "2000",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    run = ProcfileProcess("make-run", env, tmp_path, command=f"{sys.executable} -m webapp.run_local")
    wait_for(lambda: _answers(f"http://127.0.0.1:{port}/health/live"), timeout=120, processes=[run])
    return run, port


def test_make_run_runs_the_procfile_processes_as_its_own_children(tmp_path):
    run, _port = _make_run(tmp_path)
    try:
        children = [" ".join(child.cmdline()) for child in psutil.Process(run.pid).children()]
    finally:
        run.stop(signal.SIGINT, timeout=60)  # Ctrl-C
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


def test_a_process_that_dies_stops_make_run_and_then_its_redis(tmp_path):
    run, _port = _make_run(tmp_path)
    try:
        scheduler = next(c for c in psutil.Process(run.pid).children() if "scheduler.py" in " ".join(c.cmdline()))
        redis = next(c for c in psutil.Process(run.pid).children() if "redis-server" in " ".join(c.cmdline()))
        scheduler.kill()
        assert run.process.wait(timeout=60) == 128 + signal.SIGKILL  # make run's status is the process's
    finally:
        run.stop(signal.SIGINT, timeout=60)
    log = run.log()
    assert "sending SIGTERM to web.1" in log and "sending SIGTERM to worker.1" in log
    assert "Redis stopped." in log and not redis.is_running()
