"""Survive the platform's SIGTERM reaching every process of the dyno at once.

Heroku sends SIGTERM to all processes of a dyno; the Dramatiq master forwards its own copy
to its worker processes, and a worker process takes a second SIGTERM as "kill now",
abandoning the messages it is finishing. A repeat inside a short window is the same
request arriving twice, so it is ignored here; a SIGTERM sent later still kills.
A SIGHUP (the graceful reload that recycling asks for) counts as the first request too,
and a repeated SIGHUP is always ignored: it never means "kill now".

bin/dramatiq filters from the moment Dramatiq puts its handlers in place, before the actors are
imported; the middleware covers a worker started by the plain `dramatiq` command.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from dramatiq import Broker
from dramatiq.middleware import Middleware

logger = logging.getLogger(__name__)

#: Two SIGTERMs closer than this are one deploy's stop request delivered twice.
DUPLICATE_WINDOW_SECONDS = 5.0


#: A stop that reached this worker process before Dramatiq's handler could take it (see `handler`).
_early_stop: int | None = None


def filter_repeated_stops() -> None:
    """Wrap this process's SIGTERM and SIGHUP handlers (Dramatiq's) once, so that a repeat is ignored."""
    first_seen: float | None = None

    def wrap(signum: signal.Signals) -> None:
        original = signal.getsignal(signum)
        if not callable(original) or getattr(original, "filters_repeats", False):
            return

        def handler(sig: int, frame: FrameType | None) -> None:
            global _early_stop
            nonlocal first_seen
            now = time.monotonic()
            if first_seen is not None and (signum == signal.SIGHUP or now - first_seen < DUPLICATE_WINDOW_SECONDS):
                # A reload (SIGHUP, see recycle.py) already stops this process gracefully; a second
                # SIGHUP, sent when two worker processes ask for a reload at once, must not kill it.
                logger.info("repeated %s ignored: still finishing the messages in hand", signal.Signals(sig).name)
                return
            if first_seen is None:
                first_seen = now
            try:
                original(sig, frame)
            except NameError as exc:
                # Dramatiq's worker process unblocks the stop signals a moment before its handler's `logger`
                # exists: a stop sent while the process was starting lands there. Kept, and sent again
                # once the process has booted (resend_early_stop), when the handler can take it.
                if "logger" not in str(exc):
                    raise
                _early_stop, first_seen = sig, None

        marked: Callable[[int, FrameType | None], Any] = handler
        marked.filters_repeats = True  # type: ignore[attr-defined]
        signal.signal(signum, marked)

    wrap(signal.SIGTERM)
    if hasattr(signal, "SIGHUP"):
        wrap(signal.SIGHUP)


def resend_early_stop() -> None:
    """Deliver again the stop that came before Dramatiq's handler was ready, now that it is."""
    global _early_stop
    if _early_stop is not None:
        sig, _early_stop = _early_stop, None
        logger.info("%s received while starting: stopping now", signal.Signals(sig).name)
        os.kill(os.getpid(), sig)


class GracefulStop(Middleware):
    def after_process_boot(self, broker: Broker) -> None:
        filter_repeated_stops()
        resend_early_stop()
