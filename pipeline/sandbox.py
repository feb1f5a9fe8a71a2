"""Run a call that a hostile file can make explode in a child process, under limits, killed on overrun.

Plain Python: no Django, no Dramatiq. `run(func, *args, task=...)` calls `func(*args)` in a
child process of the calling thread and returns what it returned, or raises what it raised.
Three limits hold the child: an address-space cap (RLIMIT_AS), a CPU-time cap (RLIMIT_CPU,
re-armed before every call as the time used so far plus the cap) and a wall-clock deadline
the parent keeps, killing the child (SIGKILL) when it passes. An overrun raises SandboxLimit,
a child that dies raises SandboxCrashed; their messages are for people and never name a path.

The child is a fresh interpreter started with subprocess (fork and exec in C, no Python runs
in between), never a fork of the threaded worker; it forks the one process that serves the
calls and reports how that one died (pipeline/sandbox_child.py). Each calling thread keeps one
warm child that serves calls one at a time: a fresh interpreter importing PDFium, Pillow,
reportlab and lxml costs about 0.25 s, a warm child answers in well under a millisecond. A
child that was killed, crashed or grew large is replaced at the next call, and so is one that
`close_idle_children()` let go between calls (an idle worker gives its children's memory back).
Inputs are passed by path and read in the child; calls and answers go over pipes, pickled. The
parent trusts what it sends, not what comes back: answers are unpickled with an allow-list of classes.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, is_dataclass
from enum import Enum
from typing import Any, TypeVar

from pipeline import config, sandbox_child
from pipeline.sandbox_child import DEATH, HEADER, MEMORY_SHARE, near_memory_cap, write_frame

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: A child whose peak resident memory passed this (or half its cap) is replaced after its call,
#: so idle children stay small and a live child's peak says nothing about an earlier call.
_RETIRE_PEAK_BYTES = 150 * 1024 * 1024
#: Longest single wait on the child's pipe: the waiting thread still sees Dramatiq's time limit and shutdown.
_POLL_SLICE_SECONDS = 0.5
#: How long a child whose server died may take to say how, and to exit, before it is killed.
_REAP_SECONDS = 5.0

_BOOTSTRAP = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); from pipeline.sandbox_child import serve; "
    "serve(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), parent=int(sys.argv[5]))"
)

__all__ = ["Limits", "SandboxCrashed", "SandboxError", "SandboxLimit", "close_idle_children", "near_memory_cap", "run"]


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpu_seconds: int
    wall_seconds: float

    @classmethod
    def from_config(cls) -> Limits:
        return cls(
            memory_mb=config.get("SANDBOX_MEMORY_MB"),
            cpu_seconds=config.get("SANDBOX_CPU_SECONDS"),
            wall_seconds=config.get("SANDBOX_WALL_SECONDS"),
        )

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * 1024 * 1024


class SandboxError(Exception):
    """The call did not finish in its child; the message says why, for people (never a path)."""


class SandboxLimit(SandboxError):
    """The call went over a limit: `limit` is "memory", "cpu" or "wall"."""

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class SandboxCrashed(SandboxError):
    """The child died during the call (a signal, or an exit) without going over a limit we can name."""


def run(func: Callable[..., T], *args: Any, task: str, limits: Limits | None = None) -> T:
    """`func(*args)` in this thread's child, under `limits` (the configured ones by default).

    `func` must be a module-level function; `task` names the work for the messages, as in
    "drawing the PDF's first page" -> "drawing the PDF's first page took longer than 30 s".
    """
    if sandbox_child.IN_CHILD:  # already inside a sandbox: its limits hold this call too
        return func(*args)
    limits = limits or Limits.from_config()
    call = pickle.dumps((func, args), protocol=pickle.HIGHEST_PROTOCOL)
    child = _thread_child()  # taken for this call: close_idle_children() leaves it alone until it is done
    try:
        kind, value, peak = child.call(call, limits)
    except _Overrun:
        child.kill()
        _forget(child)
        raise _logged(SandboxLimit(f"{task} took longer than {limits.wall_seconds:g} s", limit="wall"), child) from None
    except _ChildGone as gone:
        child.close()
        _forget(child)
        raise _logged(_death(task, limits, gone.status, gone.peak), child) from None
    except BaseException:  # a time limit or shutdown raised in this thread: the child's state is unknown
        child.kill()
        _forget(child)
        raise
    finally:
        child.done()
    if kind == "memory" or peak > min(_RETIRE_PEAK_BYTES, limits.memory_bytes // 2):
        child.close()
        _forget(child)
    if kind == "memory":
        raise _logged(SandboxLimit(f"{task} needs more than {limits.memory_mb} MB of memory", limit="memory"), child)
    if kind == "raised":
        raise value
    return value  # type: ignore[no-any-return]


def _death(task: str, limits: Limits, status: int, peak: int) -> SandboxError:
    """What a child's exit status says about the call it was running."""
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        return SandboxLimit(f"{task} needs more than {limits.cpu_seconds} s of CPU time", limit="cpu")
    if peak >= MEMORY_SHARE * limits.memory_bytes:
        return SandboxLimit(f"{task} needs more than {limits.memory_mb} MB of memory", limit="memory")
    if os.WIFSIGNALED(status):
        return SandboxCrashed(f"{task} crashed ({signal.Signals(os.WTERMSIG(status)).name})")
    return SandboxCrashed(f"{task} ended its process (exit status {os.WEXITSTATUS(status)})")


def _logged(exc: SandboxError, child: _Child) -> SandboxError:
    logger.warning("sandbox child %s stopped: %s", child.pid, exc)
    return exc


# -- the parent's side: one child per calling thread ---------------------------------------


class _Overrun(Exception):
    """The wall-clock deadline passed while the child was still working."""


class _ChildGone(Exception):
    """The server died: `status` is its wait status, `peak` its peak resident bytes (0: unknown)."""

    def __init__(self, status: int, peak: int) -> None:
        super().__init__(status, peak)
        self.status, self.peak = status, peak


class _Child:
    """A supervisor process (our child, its own session and process group) and the server it forked."""

    def __init__(self) -> None:
        call_read, self._calls = os.pipe()
        self._answers, answer_write = os.pipe()
        self._deaths, death_write = os.pipe()
        theirs = (call_read, answer_write, death_write)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, json.dumps(sys.path), *map(str, theirs), str(os.getpid())],
                pass_fds=theirs,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # signals sent to the worker's process group do not reach it
            )
        finally:
            for fd in theirs:
                os.close(fd)
        self.pid = self.process.pid
        self._finalizer = weakref.finalize(self, _stop, self.process, self._calls, self._answers, self._deaths)
        self._state = threading.Lock()  # guards `_in_call` and `_closed` between the owning thread and others
        self._in_call = True  # taken by the thread that starts it: close_idle_children must not close it first
        self._closed = False
        with _children_lock:
            _children.add(self)

    def take(self) -> bool:
        """The owning thread, before a call: False when the child was let go (the thread starts another)."""
        with self._state:
            if self._closed:
                return False
            self._in_call = True
            return True

    def done(self) -> None:
        with self._state:
            self._in_call = False

    def close_if_idle(self) -> bool:
        """From any thread: let the child go unless its thread is in a call with it; True if it was let go."""
        with self._state:
            if self._in_call or self._closed:
                return False
            self._closed = True
        self.close()
        return True

    def call(self, call: bytes, limits: Limits) -> tuple[str, Any, int]:
        deadline = time.monotonic() + limits.wall_seconds
        try:
            write_frame(self._calls, pickle.dumps((limits.memory_bytes, limits.cpu_seconds, call)))
        except BrokenPipeError:
            raise self._gone() from None
        (size,) = HEADER.unpack(self._read(HEADER.size, deadline))
        if size > limits.memory_bytes:  # no answer can be larger than the server's whole memory
            self.kill()
            raise _ChildGone(signal.SIGKILL, size)
        answer: tuple[str, Any, int] = _AnswerUnpickler(io.BytesIO(self._read(size, deadline))).load()
        return answer

    def _read(self, size: int, deadline: float) -> bytearray:
        buffer = bytearray(size)
        view, done = memoryview(buffer), 0
        poller = select.poll()
        poller.register(self._answers, select.POLLIN)
        while done < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Overrun
            if not poller.poll(min(remaining, _POLL_SLICE_SECONDS) * 1000):
                continue
            count = os.readv(self._answers, [view[done:]])
            if count == 0:
                raise self._gone()
            done += count
        return buffer

    def _gone(self) -> _ChildGone:
        """The server died: how, as its supervisor saw it (or as the supervisor itself ended)."""
        poller = select.poll()
        poller.register(self._deaths, select.POLLIN)
        report = os.read(self._deaths, DEATH.size) if poller.poll(_REAP_SECONDS * 1000) else b""
        try:
            code = self.process.wait(_REAP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            code = -signal.SIGKILL
        if len(report) == DEATH.size:
            return _ChildGone(*DEATH.unpack(report))
        return _ChildGone(code << 8 if code >= 0 else -code, 0)  # no report: the supervisor's own end, as a wait status

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with self._state:
            self._closed = True
        if self.process.returncode is None:  # not reaped yet: its process group cannot have been reused
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait()
        self._finalizer()

    def close(self) -> None:
        """Let an idle child go: its server exits when the calls pipe closes, and the supervisor after it."""
        with self._state:
            self._closed = True
        self._finalizer()


def _stop(process: subprocess.Popen[bytes], *fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):  # closed already
            os.close(fd)
    if process.returncode is None:
        try:
            process.wait(_REAP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


_local = threading.local()
#: Every live child, whichever thread owns it, for `close_idle_children`; a thread that ends drops its own.
_children: weakref.WeakSet[_Child] = weakref.WeakSet()
_children_lock = threading.Lock()


def _thread_child() -> _Child:
    """This thread's child, taken for a call: the warm one, or a new one when it died or was let go."""
    child: _Child | None = getattr(_local, "child", None)
    if child is not None and child.alive() and child.take():
        return child
    if child is not None:
        child.kill()
    child = _local.child = _Child()  # born taken
    return child


def close_idle_children() -> int:
    """Let every child that is not in a call go, whichever thread owns it; how many were let go.

    For a worker process that has gone idle: a warm child holds tens of MB, and the next call of
    its thread starts a fresh one (about 0.25 s). Safe while other threads start calls: a child
    taken for a call is left alone, and a thread whose child was let go starts another.
    """
    with _children_lock:
        children = list(_children)
    return sum(child.close_if_idle() for child in children)


def _forget(child: _Child) -> None:
    if getattr(_local, "child", None) is child:
        del _local.child


#: What an answer may hold besides builtin values: a child's bytes are not trusted with code.
_SAFE_CLASSES = {("datetime", "date"), ("datetime", "datetime"), ("datetime", "timedelta"), ("decimal", "Decimal")}
_SAFE_BUILTINS = {"set", "frozenset", "bytearray", "complex"}


class _AnswerUnpickler(pickle.Unpickler):
    """Builtin values, dates, decimals, builtin exceptions and our own dataclasses, enums and exceptions."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_CLASSES or (module == "builtins" and name in _SAFE_BUILTINS):
            return super().find_class(module, name)
        if module == "builtins" or module.startswith("pipeline."):  # imported before looking: ours or builtin
            found = super().find_class(module, name)
            if isinstance(found, type) and issubclass(found, BaseException):
                return found
            if module != "builtins" and isinstance(found, type) and (is_dataclass(found) or issubclass(found, Enum)):
                return found
        raise pickle.UnpicklingError(f"a sandbox answer may not hold {module}.{name}")
