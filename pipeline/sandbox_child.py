"""The sandbox's child side (see pipeline/sandbox.py): a supervisor that forks one server of calls.

Plain Python. The parent starts a fresh interpreter that runs `serve`: the supervisor. It forks
the server, which runs the calls one at a time under the limits each brings, and waits for it;
when the server dies it writes how (wait4's status and the server's own peak resident memory)
on the deaths pipe and exits. A process started by exec inherits its parent's peak as its own
(Linux), so only the fork of a small supervisor can tell its peak from the worker's. Both ignore
the signals a deploy sends to everyone, and die when their parent does.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import pickle
import resource
import signal
import struct
import sys
from collections.abc import Callable
from typing import Any

#: Every frame on the calls and answers pipes: its length, then a pickle.
HEADER = struct.Struct(">Q")
#: What the supervisor writes when its server dies: wait4's status, the server's peak resident bytes.
DEATH = struct.Struct(">qQ")
#: A server whose peak passed this share of its cap ran out of memory: C libraries (PDFium, libxml2)
#: abort, or fail without saying why, when an allocation fails, instead of raising MemoryError.
MEMORY_SHARE = 0.75

#: True in the supervisor and its server: a call made there runs in place, under the limits already set.
IN_CHILD = False


def serve(calls_fd: int, answers_fd: int, deaths_fd: int, *, parent: int) -> None:
    """The supervisor: fork the server, wait for it, say how it ended."""
    global IN_CHILD
    IN_CHILD = True
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)  # a deploy's signals are the worker's to handle
    _die_with(parent)
    supervisor = os.getpid()
    server = os.fork()  # this process is single-threaded: forking it is safe
    if server == 0:
        os.close(deaths_fd)
        _die_with(supervisor)
        _serve_calls(calls_fd, answers_fd)
        os._exit(0)
    os.close(calls_fd)
    os.close(answers_fd)  # the server's death closes the answers pipe: the parent sees it
    _, status, usage = os.wait4(server, 0)
    with contextlib.suppress(OSError):  # a parent that already let us go
        os.write(deaths_fd, DEATH.pack(status, usage.ru_maxrss * 1024))


def _serve_calls(calls_fd: int, answers_fd: int) -> None:
    calls = os.fdopen(calls_fd, "rb")
    while (frame := read_frame(calls)) is not None:
        memory_bytes, cpu_seconds, call = pickle.loads(frame)
        try:
            func, args = pickle.loads(call)  # before the limits: importing the function's module is not its work
        except Exception as exc:
            kind, value = _failed(exc)
        else:
            _arm(memory_bytes, cpu_seconds)
            kind, value = _perform(func, args)
        try:
            answer = pickle.dumps((kind, value, peak_bytes()), protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            kind, answer = "memory", pickle.dumps(("memory", None, peak_bytes()))
        except Exception as exc:  # an exception that does not pickle: its name and message do
            answer = pickle.dumps(("raised", RuntimeError(f"{type(value).__name__}: {value} ({exc})"), peak_bytes()))
        write_frame(answers_fd, answer)
        if kind == "memory":
            return  # after a failed allocation the state is not to be trusted; the parent starts another


def _perform(func: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        return "ok", func(*args)
    except Exception as exc:
        return _failed(exc)


def _failed(exc: Exception) -> tuple[str, Exception | None]:
    if isinstance(exc, MemoryError):
        return "memory", None
    exc.__traceback__ = None
    exc.__context__ = exc.__cause__ = None
    return "raised", exc


def _arm(memory_bytes: int, cpu_seconds: int) -> None:
    """Memory capped at `memory_bytes`; CPU at what this process used so far plus `cpu_seconds`."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_below(memory_bytes, hard), hard))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime) + cpu_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (_below(soft, hard), hard))  # past it: SIGXCPU ends the process


def _below(value: int, hard: int) -> int:
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def near_memory_cap() -> bool:
    """True in a server whose peak passed most of its cap: for a C library's failure that does not say
    why (libxml2 reports a failed allocation as "unknown error"). Outside a sandbox, False."""
    cap, _ = resource.getrlimit(resource.RLIMIT_AS)
    return IN_CHILD and cap != resource.RLIM_INFINITY and peak_bytes() >= MEMORY_SHARE * cap


def _die_with(parent: int) -> None:
    """SIGKILL when the thread that started us ends (Linux), so no child outlives its worker."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def write_frame(fd: int, data: bytes) -> None:
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def read_frame(stream: io.BufferedReader) -> bytes | None:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    return stream.read(size)
