"""Test-only actor the stuck-worker test loads into the real worker: `dramatiq pipeline.actors tests.support.stuck_probe`.

`block_in_c(seconds)` sleeps in libc's sleep(3): a C call, where Dramatiq's TimeLimit (an
exception set on the thread, raised only when Python code runs) cannot reach it, as a read on a
pipe that never gets data. Its time limit is STUCK_PROBE_TIME_LIMIT_MS (1000 by default).
"""

from __future__ import annotations

import ctypes
import os

import dramatiq

from pipeline.config import DEFAULT_QUEUE

TIME_LIMIT_MS = int(os.environ.get("STUCK_PROBE_TIME_LIMIT_MS", "1000"))

_libc = ctypes.CDLL(None)


@dramatiq.actor(queue_name=DEFAULT_QUEUE, time_limit=TIME_LIMIT_MS, max_retries=0)
def block_in_c(seconds: int) -> None:
    _libc.sleep(seconds)
