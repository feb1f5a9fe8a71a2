"""Run a call with a deadline it cannot overstay: the clock's jobs, which must never hold the clock.

The call runs in a daemon thread. Past the deadline, or once `stopping` is set, the caller stops
waiting and gets False; the thread is left to finish (or stay blocked) on its own, and being a
daemon it never keeps the process from exiting. Plain Python.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

#: How often a waiting caller looks at `stopping`.
STOP_POLL_SECONDS = 0.2


def run_with_deadline(call: Callable[[], object], *, seconds: float, stopping: threading.Event, name: str) -> bool:
    """True when `call` returned (or raised) within `seconds`; False when it overran or a stop came."""
    done = threading.Event()

    def target() -> None:
        try:
            call()
        except Exception:
            logger.exception("%s failed", name)
        finally:
            done.set()

    threading.Thread(target=target, name=name, daemon=True).start()
    deadline = time.monotonic() + seconds
    while not done.wait(min(STOP_POLL_SECONDS, max(0.0, deadline - time.monotonic()))):
        if stopping.is_set() or time.monotonic() >= deadline:
            return done.is_set()
    return True
