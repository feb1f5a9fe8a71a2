"""Calls the sandbox tests run in its child: each does one thing a hostile file can make a library do."""

from __future__ import annotations

import ctypes
import os
import resource
import time


def echo(*values: object) -> tuple[object, ...]:
    return values


def fail(message: str) -> None:
    raise ValueError(message)


def pid() -> int:
    return os.getpid()


def allocate(megabytes: int) -> int:
    """Python memory: MemoryError once the cap is reached."""
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)


def allocate_in_c(megabytes: int) -> None:
    """C memory, touched page by page; abort() when malloc fails, as PDFium does."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    for _ in range(megabytes):
        block = libc.malloc(1024 * 1024)
        if not block:
            os.abort()
        ctypes.memset(block, 1, 1024 * 1024)


def spin(cpu_seconds: float) -> float:
    """Burn CPU time (not wall time) and return how much this process has used in all."""
    start = time.process_time()
    while time.process_time() - start < cpu_seconds:
        pass
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def segfault() -> None:
    ctypes.string_at(0)


def abort() -> None:
    os.abort()


def exit_quietly() -> None:
    os._exit(3)


def hold(started: str, release: str) -> int:
    """Say the call has started (this process's pid in a file), then wait for the test's file; the pid."""
    with open(f"{started}.part", "w") as handle:
        handle.write(str(os.getpid()))
    os.rename(f"{started}.part", started)
    while not os.path.exists(release):
        time.sleep(0.01)
    return os.getpid()
