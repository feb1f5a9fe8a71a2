"""The recycling middleware's decisions, and GracefulStop keeping a reload graceful."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker

from pipeline.config import BASE_DIR
from pipeline.middleware.graceful_stop import GracefulStop, filter_repeated_stops
from pipeline.middleware.memory import resident_bytes
from pipeline.middleware.recycle import Recycle
from tests.support.processes import AS_PID_1, need_pid_1


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


def _booted(recycle: Recycle) -> Recycle:
    broker = StubBroker()
    recycle.after_worker_boot(broker, Worker(broker, worker_threads=1))  # notes its size at start
    broker.close()
    return recycle


def test_an_idle_process_much_bigger_than_at_start_asks_once():
    recycle, calls = _recycle(max_messages=0, max_rss_mb=0, idle_growth_mb=4)
    start = _booted(recycle)._start_rss
    recycle.after_idle_trim(start + 3 * 2**20)
    assert calls == [], "3 MB over its start is within 4"
    recycle.after_idle_trim(start + 5 * 2**20)
    assert calls == [1]
    recycle.after_idle_trim(start + 50 * 2**20)
    recycle.after_process_message(None, None)
    assert calls == [1], "only once per process"


def test_an_idle_reload_is_off_at_zero_and_outside_a_worker_process():
    recycle, calls = _recycle(max_messages=0, max_rss_mb=0, idle_growth_mb=0)
    _booted(recycle).after_idle_trim(recycle._start_rss + 2**30)
    inactive = _booted(Recycle(request_reload=lambda: calls.append(1), idle_growth_mb=1))
    inactive.after_idle_trim(inactive._start_rss + 2**30)
    assert calls == []


#: The worker process: the real Recycle, with its real SIGHUP to its master, after three messages.
WORKER = """
import os, sys, time
from pipeline.middleware.recycle import Recycle

def work(mode, booted):
    master = os.getppid()
    recycle = Recycle(max_messages=1, max_rss_mb=0)
    if mode != "not-booted":
        recycle.after_process_boot(None)
    booted.set()
    if mode == "orphaned":  # its master exits now: wait to be adopted
        deadline = time.monotonic() + 30
        while os.getppid() == master and time.monotonic() < deadline:
            time.sleep(0.01)
    for _ in range(3):
        recycle.after_process_message(None, None)
"""

#: A stand-in Dramatiq master: forks one worker process, as the dramatiq command does, and prints
#: how many SIGHUPs reached it. "orphaned": it exits once the worker booted, leaving it behind.
MASTER = (
    WORKER
    + """
import multiprocessing, signal
if __name__ == "__main__":  # a fork server or spawn imports this file again in each worker process
    received = []
    signal.signal(signal.SIGHUP, lambda signum, frame: received.append(signum))
    fork = multiprocessing.get_context(sys.argv[2] if len(sys.argv) > 2 else "fork")
    booted = fork.Event()
    worker = fork.Process(target=work, args=(sys.argv[1], booted))
    worker.start()
    booted.wait(30)
    if sys.argv[1] == "orphaned":
        os._exit(0)
    worker.join()
    print(len(received))
"""
)

#: What adopts an orphan: a subreaper, as tini -s or Compose's docker-init is. It runs the master,
#: waits for every descendant and prints how many SIGHUPs reached it.
SUBREAPER = """
import ctypes, os, signal, sys
received = []
signal.signal(signal.SIGHUP, lambda signum, frame: received.append(signum))
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
os.spawnv(os.P_NOWAIT, sys.executable, [sys.executable, "-c", sys.argv[1], "orphaned"])
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
print(len(received))
"""


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=BASE_DIR, capture_output=True, text=True, timeout=60, check=True)


def sighups(*command: str) -> int:
    return int(run(*command).stdout)


def test_inactive_outside_a_worker_process():
    assert sighups(sys.executable, "-c", MASTER, "not-booted") == 0, "no SIGHUP before the worker process boots"


def test_a_booted_worker_process_signals_its_master_once():
    assert sighups(sys.executable, "-c", MASTER, "booted") == 1


def test_a_master_that_is_pid_1_is_signalled_too():
    need_pid_1()
    assert sighups(*AS_PID_1, sys.executable, "-c", MASTER, "booted") == 1, "as in a container without an init"


def test_a_master_that_starts_its_workers_through_a_forkserver_is_signalled(tmp_path):
    """Python 3.14's default on Linux: the worker process's parent is the fork server, not the master."""
    script = tmp_path / "master.py"  # forkserver imports the target from the main module's file
    script.write_text(MASTER)
    assert sighups(sys.executable, str(script), "booted", "forkserver") == 1


def test_an_orphan_does_not_signal_what_adopted_it():
    done = run(sys.executable, "-c", SUBREAPER, MASTER)
    assert int(done.stdout) == 0
    assert "orphaned: the Dramatiq master" in done.stderr, "the orphan did reach its limit, and said why it did not ask"


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("WORKER_MAX_MESSAGES", "7")
    monkeypatch.setenv("WORKER_MAX_RSS_MB", "0")
    monkeypatch.setenv("WORKER_IDLE_RELOAD_MB", "3")
    recycle = Recycle()
    assert (recycle.max_messages, recycle.max_rss_bytes, recycle.idle_growth_bytes) == (7, 0, 3 * 2**20)


def test_the_boot_line_says_every_limit(caplog):
    broker = StubBroker()
    worker = Worker(broker, worker_threads=2)
    with caplog.at_level("INFO", logger="pipeline.middleware.recycle"):
        _recycle(max_messages=5, max_rss_mb=300, idle_growth_mb=4)[0].after_worker_boot(broker, worker)
        _recycle(max_messages=0, max_rss_mb=0, idle_growth_mb=0)[0].after_worker_boot(broker, worker)
    first, second = (record.getMessage() for record in caplog.records)
    assert "recycled after 5 messages or 300 MB; reloaded when idle 4 MB over its " in first
    assert "recycled after unlimited messages or unlimited MB; never reloaded for its size when idle" in second


def test_current_rss_is_plausible():
    assert 5 * 2**20 < resident_bytes() < 4 * 2**30


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


def test_filtering_twice_wraps_once(saved_handlers):
    """bin/dramatiq filters before the actors load, GracefulStop again after they did: one filter."""
    seen: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: seen.append(signum))
    filter_repeated_stops()
    filtered = signal.getsignal(signal.SIGTERM)
    GracefulStop().after_process_boot(None)
    assert signal.getsignal(signal.SIGTERM) is filtered
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGTERM)
    assert seen == [signal.SIGTERM]


def test_a_stop_that_lands_before_dramatiqs_handler_is_ready_is_sent_again_once_booted(saved_handlers):
    """Dramatiq's worker process unblocks the stop signals before its handler's `logger` exists: a SIGTERM
    sent while it started (a deploy during a reload) raised NameError there and killed it (seen 1 in 5 runs
    of test_reload_stop at 1.1 s). It is kept, and delivered again after the process boots."""
    seen: list[int] = []
    ready = False

    def dramatiqs(signum, frame):
        if not ready:
            raise NameError("cannot access free variable 'logger' where it is not associated with a value")
        seen.append(signum)

    signal.signal(signal.SIGTERM, dramatiqs)
    filter_repeated_stops()
    os.kill(os.getpid(), signal.SIGTERM)  # no NameError escapes: the process does not die of it
    assert seen == []
    ready = True
    GracefulStop().after_process_boot(None)
    assert seen == [signal.SIGTERM], "the stop, delivered once the handler can take it"
    os.kill(os.getpid(), signal.SIGTERM)
    assert seen == [signal.SIGTERM], "and it counts as the first: a repeat is still ignored"
