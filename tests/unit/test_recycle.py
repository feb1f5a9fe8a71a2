"""The recycling middleware's decisions, and GracefulStop keeping a reload graceful."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from pipeline.middleware.graceful_stop import GracefulStop
from pipeline.middleware.recycle import Recycle, current_rss_bytes


def _recycle(**options) -> tuple[Recycle, list[int]]:
    calls: list[int] = []
    return Recycle(request_reload=lambda: calls.append(1), active=True, **options), calls


def test_asks_once_after_max_messages():
    recycle, calls = _recycle(max_messages=3, max_rss_mb=0)
    for _ in range(2):
        recycle.after_process_message(None, None)
    assert calls == []
    recycle.after_skip_message(None, None)
    assert calls == [1]
    for _ in range(10):
        recycle.after_process_message(None, None, exception=RuntimeError())
    assert calls == [1], "only once per process"


def test_asks_when_rss_is_past_the_limit():
    recycle, calls = _recycle(max_messages=0, max_rss_mb=1)
    recycle.after_process_message(None, None)
    assert calls == [1]


def test_zero_turns_both_limits_off():
    recycle, calls = _recycle(max_messages=0, max_rss_mb=0)
    for _ in range(1000):
        recycle.after_process_message(None, None)
    assert calls == []


#: A stand-in Dramatiq master: runs one "worker" child and prints how many SIGHUPs reached it.
MASTER = """
import signal, subprocess, sys
received = []
signal.signal(signal.SIGHUP, lambda signum, frame: received.append(signum))
subprocess.run([sys.executable, "-c", sys.argv[1], sys.argv[2]], check=True)
print(len(received))
"""

#: The worker child: the real Recycle, with its real SIGHUP to the parent, after three messages.
WORKER = """
import sys
from pipeline.middleware.recycle import Recycle
recycle = Recycle(max_messages=1, max_rss_mb=0)
if sys.argv[1] == "booted":
    recycle.after_process_boot(None)
for _ in range(3):
    recycle.after_process_message(None, None)
"""


def sighups_to_the_master(worker_mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", MASTER, WORKER, worker_mode], capture_output=True, text=True, timeout=60, check=True
    )
    return int(done.stdout)


def test_inactive_outside_a_worker_process():
    assert sighups_to_the_master("not-booted") == 0, "the real SIGHUP sender must not fire before the worker boots"


def test_a_booted_worker_process_signals_its_master_once():
    assert sighups_to_the_master("booted") == 1


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("WORKER_MAX_MESSAGES", "7")
    monkeypatch.setenv("WORKER_MAX_RSS_MB", "0")
    recycle = Recycle()
    assert (recycle.max_messages, recycle.max_rss_bytes) == (7, 0)


def test_current_rss_is_plausible():
    assert 5 * 2**20 < current_rss_bytes() < 4 * 2**30


@pytest.fixture
def saved_handlers():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_repeated_sighup_or_a_sigterm_right_after_it_does_not_kill(saved_handlers):
    seen: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: seen.append(signum))
    GracefulStop().after_process_boot(None)
    os.kill(os.getpid(), signal.SIGHUP)
    os.kill(os.getpid(), signal.SIGHUP)
    os.kill(os.getpid(), signal.SIGTERM)
    assert seen == [signal.SIGHUP], "one reload request reaches dramatiq's handler; the repeats do not"
