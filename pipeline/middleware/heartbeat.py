"""A heartbeat in Redis from every worker process, for liveness probes (`python -m pipeline.heartbeat`).

A background thread writes `invoicemail:worker:<hostname>:<pid>:heartbeat` every
WORKER_INTERVAL_SECONDS with a WORKER_TTL_SECONDS expiry, but only while every consumer and
worker thread of the process is alive: a process that booted and lost its threads stops
beating, and its probe fails. The key is deleted when the worker has shut down.

It only acts inside a worker process of the `dramatiq` command (`after_process_boot`), never
in a test's in-process Worker or in a process that merely enqueues.
"""

from __future__ import annotations

import logging
import threading

from dramatiq import Broker, Worker
from dramatiq.middleware import Middleware

from .. import heartbeat, locks

logger = logging.getLogger(__name__)

ROLE = "worker"


class Heartbeat(Middleware):
    def __init__(
        self,
        *,
        interval: float = heartbeat.WORKER_INTERVAL_SECONDS,
        ttl: int = heartbeat.WORKER_TTL_SECONDS,
        active: bool = False,
    ) -> None:
        self.interval = interval
        self.ttl = ttl
        self._active = active  # a worker process of the dramatiq command turns it on at boot
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_process_boot(self, broker: Broker) -> None:
        self._active = True

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        if not self._active or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(worker,), name="heartbeat", daemon=True)
        self._thread.start()

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._thread = None
        client = locks.redis_client()
        try:
            heartbeat.forget(client, ROLE)
        except Exception as exc:
            logger.warning("heartbeat not removed: %s", exc)
        finally:
            client.close()

    def _run(self, worker: Worker) -> None:
        client = locks.redis_client()
        withheld = False
        try:
            while True:
                problem = self.problem(worker)
                if problem is None:
                    try:
                        heartbeat.beat(client, ROLE, ttl=self.ttl)
                    except Exception as exc:
                        logger.warning("heartbeat not written: %s", exc)
                    withheld = False
                elif not withheld:
                    logger.error("heartbeat withheld: %s", problem)
                    withheld = True
                if self._stop.wait(self.interval):
                    return
        finally:
            client.close()

    @staticmethod
    def problem(worker: Worker) -> str | None:
        """Why this process must not claim to be alive, or None."""
        threads = [*list(worker.consumers.values()), *list(worker.workers)]
        if not worker.workers:
            return "no worker thread"
        dead = [thread.name for thread in threads if not thread.is_alive()]
        return f"threads stopped: {', '.join(dead)}" if dead else None
