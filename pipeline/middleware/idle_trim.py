"""Give memory back to the system once a worker process has gone idle.

After a burst of messages, CPython's freed objects sit in glibc's malloc arenas, and each worker
thread keeps its warm sandbox child (pipeline/sandbox.py, tens of MB each): the process keeps its
peak memory while it waits for the next tick. Once no message has been in hand for IDLE_SECONDS
since the last one ended, a background thread lets the idle sandbox children go (the next call
starts a fresh one), then runs `gc.collect()` and glibc's `malloc_trim(0)`, which hands the free
pages back. It waits again for the next message, so an idle process trims once, and a busy one
never does between messages. What the process still holds then goes to `after_trim` (Recycle's,
which reloads a process that stayed much bigger than it started).

It only acts inside a worker process of the `dramatiq` command (`after_process_boot`), never
in a test's in-process Worker or in a process that merely enqueues; without glibc it does not trim.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from dramatiq import Broker, Worker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from .. import sandbox
from .memory import IDLE_SECONDS, release_memory, released

logger = logging.getLogger(__name__)


class IdleTrim(Middleware):
    def __init__(
        self,
        *,
        idle_seconds: float = IDLE_SECONDS,
        after_trim: Callable[[int], None] | None = None,
        active: bool = False,
    ) -> None:
        self.idle_seconds = idle_seconds
        self._after_trim = after_trim
        self._active = active  # a worker process of the dramatiq command turns it on at boot
        self._lock = threading.Lock()
        self._in_hand = 0
        self._last_done = time.monotonic()  # when the last message in hand ended
        self._went_idle = threading.Event()  # set when the last message in hand is done, until the trim
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: How many times this process trimmed (for the tests and the logs).
        self.trims = 0

    def after_process_boot(self, broker: Broker) -> None:
        self._active = True

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        if not self._active or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="idle trim", daemon=True)
        self._thread.start()

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        with self._lock:
            self._in_hand += 1
            self._went_idle.clear()

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        self._done()

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._done()

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        self._stop.set()
        self._went_idle.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _done(self) -> None:
        with self._lock:
            self._in_hand = max(0, self._in_hand - 1)
            if self._in_hand == 0:
                self._last_done = time.monotonic()
                self._went_idle.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._went_idle.wait()
            if self._stop.is_set():
                return
            wait = self._idle_left()
            if wait is None:  # a message started: wait for the last one in hand to end
                continue
            if wait > 0:  # wait out the rest, then look again: another message may have come and gone
                if self._stop.wait(wait):
                    return
                continue
            self._trim()

    def _idle_left(self) -> float | None:
        """How long until the process has been idle for `idle_seconds` (None: a message is in hand);
        at 0 or less it counts as trimmed, and waits for the next message to end."""
        with self._lock:
            if self._in_hand:
                return None
            left = self._last_done + self.idle_seconds - time.monotonic()
            if left <= 0:
                self._went_idle.clear()
            return left

    def _trim(self) -> None:
        try:
            children = sandbox.close_idle_children()
            before, after = release_memory()
        except Exception:  # never let the trim take the worker process down
            logger.exception("could not release memory after going idle")
            return
        self.trims += 1
        logger.info(
            "worker process %d idle: memory released, %s, %d sandbox children let go",
            os.getpid(),
            released(before, after),
            children,
        )
        if self._after_trim is not None:
            try:
                self._after_trim(after)
            except Exception:  # the next idle spell still trims
                logger.exception("could not act on the memory held after going idle")
