"""Recycle a worker process that grew too big or served too many messages.

Dramatiq has no max-tasks-per-child. Its own recipe is a SIGHUP to the master process,
which stops every worker process gracefully (in-flight messages finish and are acked,
prefetched ones go back to Redis) and then execs itself again with the same arguments
and environment. This middleware sends that SIGHUP from a worker process, once, when
after a message its resident memory passed `WORKER_MAX_RSS_MB` or it has handled
`WORKER_MAX_MESSAGES` messages, or when, idle after work and trimmed (IdleTrim), it still holds
`WORKER_IDLE_RELOAD_MB` more than at its start: what a burst leaves behind (the modules its
messages loaded, heap that malloc_trim cannot return) goes only with the process. 0 turns a
limit off.

It only acts inside a worker process of the `dramatiq` command (`after_process_boot`),
never in a test's in-process Worker or in a process that merely enqueues. The master is the
process that started this one, as multiprocessing recorded it, not a guess from the parent: where
a platform starts bin/procfile as a container's first process the master is PID 1, which is fine,
since PID 1 only drops signals it has no handler for and the master blocks SIGHUP before it forks
its worker processes, unblocking it once its handler is in place. The master is signalled only
while it lives (multiprocessing's sentinel for it, whatever the start method); an orphan must not
signal whatever adopted it or took its pid (an init, tini, a subreaper).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from dramatiq import Broker, Worker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from .. import config
from .memory import resident_bytes

logger = logging.getLogger(__name__)


class Recycle(Middleware):
    """Ask the Dramatiq master for a graceful reload once a limit is passed."""

    def __init__(
        self,
        *,
        max_rss_mb: int | None = None,
        max_messages: int | None = None,
        idle_growth_mb: int | None = None,
        request_reload: Callable[[], None] | None = None,
        active: bool = False,
    ) -> None:
        self.max_rss_bytes = (config.get("WORKER_MAX_RSS_MB") if max_rss_mb is None else max_rss_mb) * 1024 * 1024
        self.max_messages = config.get("WORKER_MAX_MESSAGES") if max_messages is None else max_messages
        idle_growth_mb = config.get("WORKER_IDLE_RELOAD_MB") if idle_growth_mb is None else idle_growth_mb
        self.idle_growth_bytes = idle_growth_mb * 1024 * 1024
        self._start_rss = 0
        self._request_reload = request_reload or self._signal_master
        self._lock = threading.Lock()
        self._active = active  # a worker process of the dramatiq command turns it on at boot
        self._messages = 0
        self._requested = False
        self._master: multiprocessing.process.BaseProcess | None = None

    def after_process_boot(self, broker: Broker) -> None:
        self._active = True
        self._messages = 0
        self._requested = False
        self._master = multiprocessing.parent_process()  # None outside a process that multiprocessing started

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self._start_rss = resident_bytes()
        logger.info(
            "worker process %d: %d threads, prefetch %d, poll timeout %d ms, queues %s; "
            "recycled after %s messages or %s MB; %s",
            os.getpid(),
            worker.worker_threads,
            worker.queue_prefetch,
            worker.worker_timeout,
            ",".join(sorted(worker.consumer_whitelist or [])) or "all",
            self.max_messages or "unlimited",
            self.max_rss_bytes // (1024 * 1024) or "unlimited",
            f"reloaded when idle {self.idle_growth_bytes // 1048576} MB over its {self._start_rss // 1048576} MB at start"
            if self.idle_growth_bytes
            else "never reloaded for its size when idle",
        )

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        self._count()

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._count()

    def after_idle_trim(self, rss: int) -> None:
        """IdleTrim's word that this process went idle and gave back what it could: `rss` is what it still holds."""
        if not self._active or not self.idle_growth_bytes or not self._start_rss:
            return
        grown = rss - self._start_rss
        if grown < self.idle_growth_bytes:
            return
        with self._lock:
            if self._requested:
                return
            self._requested = True
        self._reload(
            logging.INFO,
            f"idle at {rss / 1048576:.0f} MB, {grown / 1048576:.0f} MB over its start "
            f"(WORKER_IDLE_RELOAD_MB={self.idle_growth_bytes // 1048576})",
        )

    def _count(self) -> None:
        if not self._active:
            return
        with self._lock:
            self._messages += 1
            if self._requested:
                return
            why = self._reason()
            if why is None:
                return
            self._requested = True
        self._reload(logging.WARNING, why)

    def _reload(self, level: int, why: str) -> None:
        logger.log(level, "worker process %d asks for a graceful reload: %s", os.getpid(), why)
        try:
            self._request_reload()
        except OSError:
            logger.exception("could not ask the master for a reload; this process carries on")

    def _reason(self) -> str | None:
        if self.max_messages and self._messages >= self.max_messages:
            return f"{self._messages} messages handled (WORKER_MAX_MESSAGES={self.max_messages})"
        if self.max_rss_bytes:
            rss = resident_bytes()
            if rss >= self.max_rss_bytes:
                return (
                    f"resident memory {rss / 1048576:.0f} MB past WORKER_MAX_RSS_MB="
                    f"{self.max_rss_bytes // 1048576} after {self._messages} messages"
                )
        return None

    def _signal_master(self) -> None:
        if self._master is None:
            raise OSError("this process was not started by a Dramatiq master")
        pid = self._master.pid
        if pid is None or not self._master.is_alive():
            raise OSError(f"orphaned: the Dramatiq master (pid {pid}) is gone")
        os.kill(pid, signal.SIGHUP)
