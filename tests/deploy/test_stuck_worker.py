"""A worker whose threads are all blocked past their time limits says so: the probe fails and the health is 503.

The Procfile's worker runs with a test-only actor beside ours (tests/support/stuck_probe.py)
whose time limit is one second and which blocks in a C call, where Dramatiq's time limit cannot
reach it. Before, the heartbeat said only "the threads are alive": a worker frozen in C stayed
green for ever. Now each beat records, per worker thread, since when it has been busy and with
what time limit; the exec probe (`python -m pipeline.heartbeat worker`) and /health/pipeline's
service judge a process whose every thread is past its limit plus a grace to be stuck.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from pipeline import heartbeat
from pipeline.config import BASE_DIR, DEFAULT_QUEUE
from tests.support.processes import ProcfileProcess, procfile_commands, wait_for
from webapp.inbox.services.health import pipeline_health

pytestmark = [pytest.mark.slow]

STUCK_WORKER = procfile_commands()["worker"].replace(
    "dramatiq pipeline.actors", "dramatiq pipeline.actors tests.support.stuck_probe", 1
)
assert procfile_commands()["worker"] != STUCK_WORKER
TIME_LIMIT_SECONDS = 1


def probe(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.heartbeat", "worker", *extra],
        check=False,
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    )


def judged(redis_client) -> int:
    """What the probe would exit with, judged here: polling with a new interpreter each time cost seconds of CPU."""
    return heartbeat.check("worker", max_age=heartbeat.DEFAULT_MAX_AGE_SECONDS["worker"], client=redis_client)[0]


def busy_threads(redis_client) -> list[heartbeat.ThreadState]:
    beats = heartbeat.host_beats(redis_client, "worker", hostname=socket.gethostname())
    return [t for found in beats.values() for t in found.threads if t.busy_since is not None]


@pytest.mark.django_db
def test_a_worker_whose_every_thread_is_past_its_time_limit_is_unhealthy(tmp_path, redis_url, redis_client):
    env = {
        "STATE_DIR": str(tmp_path / "state"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "stuck-test-secret-key-0123456789-abcdefghijklmnopqrstuv",
        "WORKER_THREADS": "2",
        "WORKER_SHUTDOWN_TIMEOUT_MS": "2000",
        "STUCK_PROBE_TIME_LIMIT_MS": str(TIME_LIMIT_SECONDS * 1000),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    worker = ProcfileProcess("worker", env, tmp_path, command=STUCK_WORKER)
    try:
        wait_for(lambda: judged(redis_client) == heartbeat.OK, timeout=60, what="a heartbeat", processes=[worker])
        broker = RedisBroker(client=redis_client)
        for _ in range(2):  # one for each worker thread
            broker.enqueue(
                Message(queue_name=DEFAULT_QUEUE, actor_name="block_in_c", args=(120,), kwargs={}, options={})
            )
        wait_for(
            lambda: worker.log().count("Time limit exceeded") >= 2,
            timeout=30,
            what="both time limits to fire (and change nothing)",
            processes=[worker],
        )
        assert probe(env).returncode == heartbeat.OK, "within the grace: still alive"
        wait_for(
            lambda: judged(redis_client) == heartbeat.STALE,
            timeout=60,  # the time limit, the grace (30 s), and one beat interval (15 s)
            interval=1,
            what="the worker to be judged stuck",
            processes=[worker],
        )
        stuck = probe(env)
        healthy, report = pipeline_health(client=redis_client)
        lenient = probe(env, "--grace", "3600")
        threads = busy_threads(redis_client)
        assert worker.alive(), "the worker process is still there, serving nothing"
    finally:
        worker.stop()
    assert stuck.returncode == heartbeat.STALE, stuck.stdout
    assert "is stuck: every worker thread is busy past its time limit" in stuck.stderr
    assert f"(limit {TIME_LIMIT_SECONDS}s)" in stuck.stderr and len(stuck.stderr.strip().splitlines()) == 1
    assert lenient.returncode == heartbeat.OK, lenient.stderr
    assert [t.time_limit for t in threads] == [TIME_LIMIT_SECONDS] * 2
    assert not healthy
    assert "1 worker process(es) stuck: every thread busy past its time limit" in report["problems"]
    (process,) = report["workers"]
    assert process["stuck"] and all(seconds > TIME_LIMIT_SECONDS for seconds in process["busy_seconds"])
    assert probe(env).returncode == heartbeat.STALE, "stopped: no heartbeat"
