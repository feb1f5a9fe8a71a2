"""An idle worker process gives its peak memory back (pipeline/middleware/idle_trim.py, memory.py)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq
import psutil
import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker

from pipeline import sandbox
from pipeline.middleware.idle_trim import IdleTrim
from pipeline.middleware.memory import glibc_trim, release_memory
from tests.support import sandbox_jobs
from tests.support.processes import wait_for

IDLE = 0.2
MB = 1024 * 1024


@pytest.fixture
def stack():
    """A stub broker with the middleware active (as in a worker process), a worker, and the actor."""
    trim = IdleTrim(idle_seconds=IDLE, active=True)
    broker = StubBroker(middleware=[trim])
    gate = threading.Event()
    gate.set()

    @dramatiq.actor(broker=broker, queue_name="default")
    def work(size: int) -> None:
        gate.wait()
        garbage = [bytes(2000) for _ in range(size)]
        del garbage

    worker = Worker(broker, worker_timeout=50, worker_threads=2)
    worker.start()
    try:
        yield trim, work, gate
    finally:
        gate.set()
        worker.stop()
        broker.close()


def test_freed_heap_pages_go_back_to_the_system():
    if glibc_trim() is None:
        pytest.skip("malloc_trim is glibc's")
    blocks = [bytes(2000) for _ in range(20_000)]  # 40 MB from malloc, not Python's small-object arenas
    pin = bytes(2000)  # above them on the heap: freeing them does not shrink the heap by itself
    del blocks
    before, after = release_memory()
    assert before - after > 20 * MB, (before, after)
    assert pin


def test_a_worker_releases_memory_once_after_each_burst(stack):
    trim, work, _gate = stack
    for _ in range(20):
        work.send(2000)
    wait_for(lambda: trim.trims == 1, timeout=30, what="a release after the first burst")
    for _ in range(5):
        work.send(2000)
    wait_for(lambda: trim.trims == 2, timeout=30, what="a release after the second burst")
    threading.Event().wait(10 * IDLE)
    assert trim.trims == 2, "idle since, it did not release again"


@contextmanager
def _one_thread_worker(trim: IdleTrim) -> Iterator[dramatiq.Actor]:
    """A stub broker with `trim`, a worker of one thread, and an actor that does nothing."""
    broker = StubBroker(middleware=[trim])

    @dramatiq.actor(broker=broker, queue_name="default")
    def work() -> None:
        pass

    worker = Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        yield work
    finally:
        worker.stop()
        broker.close()


def test_after_a_release_it_says_what_the_process_still_holds():
    held: list[int] = []
    with _one_thread_worker(IdleTrim(idle_seconds=IDLE, after_trim=held.append, active=True)) as work:
        work.send()
        wait_for(lambda: held, timeout=30, what="the word after the release")
        assert abs(held[0] - psutil.Process().memory_info().rss) < 16 * MB, "its resident bytes, just trimmed"


def test_a_failing_listener_does_not_end_the_trims(caplog):
    def broken(rss: int) -> None:
        raise ValueError("listener broke")

    trim = IdleTrim(idle_seconds=IDLE, after_trim=broken, active=True)
    with _one_thread_worker(trim) as work, caplog.at_level(logging.ERROR, logger="pipeline.middleware.idle_trim"):
        work.send()
        wait_for(lambda: trim.trims == 1, timeout=30, what="the first release")
        work.send()
        wait_for(lambda: trim.trims == 2, timeout=30, what="a release after the next burst: the thread lives on")
    assert any("could not act on the memory held" in record.getMessage() for record in caplog.records)


def test_the_release_waits_idle_seconds_after_the_last_message_ends(caplog):
    """A message that comes and goes while the trim waits puts the trim off: idle means since the last."""
    idle = 1.0
    trim = IdleTrim(idle_seconds=idle, active=True)
    broker = StubBroker(middleware=[trim])
    ended: list[float] = []

    @dramatiq.actor(broker=broker, queue_name="default")
    def work(seconds: float) -> None:
        time.sleep(seconds)
        ended.append(time.time())

    worker = Worker(broker, worker_timeout=20, worker_threads=1)
    worker.start()
    try:
        with caplog.at_level(logging.INFO, logger="pipeline.middleware.idle_trim"):
            work.send(0)
            wait_for(lambda: ended, timeout=30, interval=0.01, what="the first message")
            work.send(0.6 * idle)  # starts and ends while the trim waits out the first message's idle time
            wait_for(lambda: len(ended) == 2, timeout=30, interval=0.01, what="the second message")
            wait_for(lambda: trim.trims == 1, timeout=30, what="the release")
    finally:
        worker.stop()
        broker.close()
    (released,) = [record for record in caplog.records if "idle: memory released" in record.getMessage()]
    assert released.created - ended[-1] >= idle, "released only once idle for idle_seconds after the last message"


def test_an_idle_worker_lets_its_sandbox_children_go_and_the_next_message_starts_one(stack_with_sandbox):
    trim, calls, pids = stack_with_sandbox
    for _ in range(4):
        calls.send()
    wait_for(lambda: trim.trims == 1, timeout=60, what="a release after the burst")
    assert len(pids) == 4 and 1 <= len(set(pids)) <= 2, "each worker thread kept a warm child"
    assert all(gone(pid) for pid in set(pids)), "idle, the worker let its children go"
    calls.send()
    wait_for(lambda: len(pids) == 5, timeout=60, what="a call after the release")
    assert pids[-1] not in pids[:-1] and not gone(pids[-1]), "the next message started a fresh child"


@pytest.fixture
def stack_with_sandbox():
    """The middleware active, and an actor that makes a call in its thread's sandbox child."""
    trim = IdleTrim(idle_seconds=IDLE, active=True)
    broker = StubBroker(middleware=[trim])
    pids: list[int] = []

    @dramatiq.actor(broker=broker, queue_name="default")
    def calls() -> None:
        pids.append(sandbox.run(sandbox_jobs.pid, task="a call"))

    worker = Worker(broker, worker_timeout=50, worker_threads=2)
    worker.start()
    try:
        yield trim, calls, pids
    finally:
        worker.stop()
        broker.close()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_no_release_while_a_message_is_in_hand(stack):
    trim, work, gate = stack
    gate.clear()
    work.send(10)
    wait_for(lambda: trim._in_hand == 1, timeout=30, what="the message to be taken")
    threading.Event().wait(5 * IDLE)
    assert trim.trims == 0, "a busy worker does not release"
    gate.set()
    wait_for(lambda: trim.trims == 1, timeout=30, what="the release once the message is done")


def test_inactive_outside_a_worker_process():
    trim = IdleTrim(idle_seconds=IDLE)
    broker = StubBroker(middleware=[trim])
    worker = Worker(broker, worker_timeout=50)
    worker.start()
    try:
        assert trim._thread is None
    finally:
        worker.stop()
        broker.close()
