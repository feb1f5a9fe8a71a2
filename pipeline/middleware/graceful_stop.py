"""Survive the platform's SIGTERM reaching every process of the dyno at once.

Heroku sends SIGTERM to all processes of a dyno; the Dramatiq master forwards its own copy
to its worker processes, and a worker process takes a second SIGTERM as "kill now",
abandoning the messages it is finishing. A repeat inside a short window is the same
request arriving twice, so it is ignored here; a SIGTERM sent later still kills.
"""

from __future__ import annotations

import logging
import signal
import time

from dramatiq.middleware import Middleware

logger = logging.getLogger(__name__)

#: Two SIGTERMs closer than this are one deploy's stop request delivered twice.
DUPLICATE_WINDOW_SECONDS = 5.0


class GracefulStop(Middleware):
    def after_process_boot(self, broker) -> None:
        original = signal.getsignal(signal.SIGTERM)
        if not callable(original):
            return
        first_seen: float | None = None

        def handler(signum, frame):
            nonlocal first_seen
            now = time.monotonic()
            if first_seen is not None and now - first_seen < DUPLICATE_WINDOW_SECONDS:
                logger.info("repeated SIGTERM ignored: still finishing the messages in hand")
                return
            if first_seen is None:
                first_seen = now
            original(signum, frame)

        signal.signal(signal.SIGTERM, handler)
