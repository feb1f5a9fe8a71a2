"""The sandbox: a call runs in a warm child process per thread, under memory, CPU and wall-clock limits.

Every job here is real: the child allocates, spins, sleeps, segfaults or aborts for real.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time
from datetime import date
from decimal import Decimal

import psutil
import pytest

from pipeline import sandbox
from pipeline.dte.model import Kind, ParsedFile
from tests.support import sandbox_jobs

LIMITS = sandbox.Limits(memory_mb=256, cpu_seconds=1, wall_seconds=20)


def run(func, *args, limits=LIMITS):
    return sandbox.run(func, *args, task="the job", limits=limits)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_values_and_exceptions_come_back_from_one_warm_child():
    parsed = ParsedFile(format="f", kind=Kind.OTHER, summary="ñandú")
    values = (b"\x00" * 100_000, {"a": [1, 2.5, None]}, date(2024, 5, 2), Decimal("1.10"), parsed, frozenset({1}))
    assert run(sandbox_jobs.echo, *values) == values
    with pytest.raises(ValueError, match=r"^no such folio$"):
        run(sandbox_jobs.fail, "no such folio")
    first = run(sandbox_jobs.pid)
    assert first != os.getpid()
    assert run(sandbox_jobs.pid) == first, "the same warm child serves the next call"


def test_the_child_is_a_fresh_interpreter_in_its_own_session_that_ignores_deploy_signals():
    pid = run(sandbox_jobs.pid)
    supervisor = psutil.Process(pid).parent()
    assert supervisor.ppid() == os.getpid()
    assert supervisor.cmdline()[:2] == [sys.executable, "-c"], "exec'd, not a fork of this (threaded) process"
    assert os.getsid(pid) == supervisor.pid, "a signal to the worker's process group does not reach it"
    for process in (pid, supervisor.pid):
        os.kill(process, signal.SIGTERM)  # Heroku sends SIGTERM to every process of the dyno
    assert run(sandbox_jobs.pid) == pid


@pytest.mark.parametrize("job", [sandbox_jobs.allocate, sandbox_jobs.allocate_in_c])
def test_memory_past_the_cap_is_a_limit_and_the_next_call_gets_a_new_child(job):
    before = run(sandbox_jobs.pid)
    with pytest.raises(sandbox.SandboxLimit, match=r"^the job needs more than 256 MB of memory$") as caught:
        run(job, 1024)
    assert caught.value.limit == "memory"
    assert gone(before)
    assert run(sandbox_jobs.pid) != before


def test_cpu_past_the_cap_is_a_limit_well_before_the_wall_clock():
    with pytest.raises(sandbox.SandboxLimit, match=r"^the job needs more than 1 s of CPU time$") as caught:
        run(sandbox_jobs.spin, 30.0)  # the wall clock (20 s) would say "took longer"
    assert caught.value.limit == "cpu"


def test_the_cpu_cap_is_per_call_in_a_warm_child():
    pid = run(sandbox_jobs.pid)
    totals = [run(sandbox_jobs.spin, 0.7) for _ in range(3)]
    assert totals[-1] > 2 * LIMITS.cpu_seconds, "the child used more than the cap in all..."
    assert run(sandbox_jobs.pid) == pid, "...and was never killed: each call had its own second"


def test_the_wall_deadline_kills_a_child_that_blocks():
    pid = run(sandbox_jobs.pid)
    started = time.monotonic()
    with pytest.raises(sandbox.SandboxLimit, match=r"^the job took longer than 1.5 s$") as caught:
        run(sandbox_jobs.sleep, 600, limits=sandbox.Limits(memory_mb=256, cpu_seconds=5, wall_seconds=1.5))
    assert caught.value.limit == "wall"
    assert 1.5 <= time.monotonic() - started < 10
    wait_until(lambda: gone(pid))  # SIGKILLed with its process group; its exit may lag on a loaded machine
    assert run(sandbox_jobs.echo, "next") == ("next",)


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (sandbox_jobs.segfault, r"^the job crashed \(SIGSEGV\)$"),
        (sandbox_jobs.abort, r"^the job crashed \(SIGABRT\)$"),
        (sandbox_jobs.exit_quietly, r"^the job ended its process \(exit status 3\)$"),
    ],
)
def test_a_child_that_dies_is_a_clear_error_and_is_replaced(job, message):
    with pytest.raises(sandbox.SandboxCrashed, match=message):
        run(job)
    assert run(sandbox_jobs.echo, 1) == (1,)


def test_a_big_parent_does_not_make_its_children_look_big():
    ballast = bytearray(os.urandom(1024) * (300 * 1024))  # 300 MB resident here, more than half the cap
    sandbox.run(sandbox_jobs.echo, task="a fresh child", limits=sandbox.Limits(1024, 5, 20))
    pid = run(sandbox_jobs.pid)
    assert run(sandbox_jobs.pid) == pid, "not retired as if it had grown"
    with pytest.raises(sandbox.SandboxCrashed, match=r"^the job crashed \(SIGSEGV\)$"):
        run(sandbox_jobs.segfault)  # not taken for a memory overrun
    assert len(ballast) == 300 * 2**20


def test_an_answer_holding_code_is_refused():
    with pytest.raises(pickle.UnpicklingError, match="may not hold"):
        run(sandbox_jobs.echo, os.system)
    assert run(sandbox_jobs.echo, 2) == (2,)


def test_each_thread_has_its_own_child_and_they_work_at_once():
    pids: list[int] = []

    def work() -> None:
        pids.append(run(sandbox_jobs.pid))
        run(sandbox_jobs.sleep, 3.0)

    threads = [threading.Thread(target=work) for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert time.monotonic() - started < 5.5, "the two sleeps overlapped"
    assert len(set(pids)) == 2 and os.getpid() not in pids, "a thread's child serves that thread only"
    deadline = time.monotonic() + 5
    while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(gone(pid) for pid in pids), "a child ends with the thread that started it"


def test_a_warm_call_costs_far_less_than_a_fresh_interpreter():
    run(sandbox_jobs.echo)
    started = time.perf_counter()
    for _ in range(50):
        run(sandbox_jobs.echo, b"x" * 1000)
    warm_ms = (time.perf_counter() - started) * 1000 / 50
    started = time.perf_counter()
    os.system(f"{sys.executable} -c 'import pypdfium2, PIL.Image, reportlab.pdfgen.canvas, lxml.etree'")
    fresh_ms = (time.perf_counter() - started) * 1000
    print(f"\nsandbox: a warm call {warm_ms:.2f} ms; a fresh interpreter with the renderers {fresh_ms:.0f} ms")
    assert warm_ms < 20 < fresh_ms


def test_idle_children_of_every_thread_are_let_go_and_the_next_call_starts_a_fresh_one():
    mine = run(sandbox_jobs.pid)
    theirs: list[int] = []
    again = threading.Event()
    finished = threading.Event()

    def other_thread() -> None:
        theirs.append(run(sandbox_jobs.pid))
        again.wait(30)
        theirs.append(run(sandbox_jobs.pid))
        finished.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    try:
        wait_until(lambda: len(theirs) == 1)
        assert sandbox.close_idle_children() >= 2
        assert gone(mine) and gone(theirs[0]), "both idle children were let go, the other thread's too"
        assert sandbox.close_idle_children() == 0, "and only once"
        fresh = run(sandbox_jobs.pid)
        assert fresh != mine and not gone(fresh), "the next call got a new child"
        again.set()
        assert finished.wait(30)
        assert theirs[1] != theirs[0] and theirs[1] != fresh, "so did the other thread's"
    finally:
        again.set()
        thread.join(timeout=30)


def test_a_child_just_started_is_not_let_go_before_its_first_call():
    """A thread's new child is its own from birth: an idle trim between its start and its call leaves it."""
    child = sandbox._Child()
    try:
        sandbox.close_idle_children()  # other idle children of this process go, not this one
    finally:
        child.done()
    assert child.close_if_idle(), "it was still open, and goes only now that its thread is done with it"


def test_a_child_in_a_call_is_not_let_go(tmp_path):
    started, release = tmp_path / "started", tmp_path / "release"
    answers: list[int] = []
    thread = threading.Thread(target=lambda: answers.append(run(sandbox_jobs.hold, str(started), str(release))))
    thread.start()
    try:
        wait_until(started.exists)
        busy = int(started.read_text())
        sandbox.close_idle_children()
        assert not gone(busy), "the child in a call carries on"
        release.touch()
        thread.join(timeout=30)
        assert answers == [busy], "and its call answers"
    finally:
        release.touch()
        thread.join(timeout=30)


def wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
