"""Hand the memory a burst freed back to the system: for idle worker and web processes.

Plain Python, no Dramatiq and no Django: the web imports it too.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable

#: How long a process has had nothing to do before it releases memory.
IDLE_SECONDS = 2.0


@functools.cache
def glibc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), or None where the C library has none (musl, macOS)."""
    import ctypes  # here: the gunicorn master imports this module too, and never trims

    try:
        trim = ctypes.CDLL(None).malloc_trim  # the symbols this process already has loaded
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


def resident_bytes() -> int:
    """This process's resident memory now (not the peak), cheap enough for every message."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # no /proc (macOS)
        import psutil

        return psutil.Process().memory_info().rss


def release_memory() -> tuple[int, int]:
    """Collect cycles, then hand glibc's free pages back to the system; resident bytes before and after."""
    before = resident_bytes()
    gc.collect()
    trim = glibc_trim()
    if trim is not None:
        trim()
    return before, resident_bytes()


def released(before: int, after: int) -> str:
    """For the log line: "RSS 88 -> 81 MB"."""
    return f"RSS {before / 1048576:.0f} -> {after / 1048576:.0f} MB"
