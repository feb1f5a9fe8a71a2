"""An idle worker process gives its peak memory back (pipeline/middleware/idle_trim.py, memory.py)."""

from __future__ import annotations

import threading

import dramatiq
import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker

from pipeline.middleware.idle_trim import IdleTrim
from pipeline.middleware.memory import glibc_trim, release_memory
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
    assert trim.trims == 2, "idle between bursts, it released once per burst"


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
