"""A heartbeat from every worker process, for the probes (`python -m pipeline.heartbeat worker [--live]`).

A background thread writes its beat every WORKER_INTERVAL_SECONDS, to this pod's own file
(`STATE_DIR/heartbeats/worker-<hostname>-<pid>.json`, for liveness: Redis has no say in it) and
to Redis (`invoicemail:worker:<hostname>:<pid>:heartbeat` with a WORKER_TTL_SECONDS expiry, for
readiness and the pipeline's health), but only while every consumer and worker thread of the
process is alive: a process that booted and lost its threads stops beating, and its probes fail.
Both are removed when the worker has shut down; the file of a killed one goes at the next beat of
a worker process of this host (pipeline.heartbeat.beat_file).

Each beat also says, per worker thread, since when it has been busy with its message and that
actor's time limit (as Dramatiq's TimeLimit reads it): a thread blocked in a C call outlives its
time limit, and a process whose threads all did serves nothing more. The probe and the pipeline's
health judge it (pipeline/heartbeat.py); this thread logs it once.

It only acts inside a worker process of the `dramatiq` command (`after_process_boot`), never
in a test's in-process Worker or in a process that merely enqueues.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dramatiq import ActorNotFound, Broker, Worker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware, TimeLimit

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
        #: Worker thread id -> (when its message started, the actor's time limit in seconds).
        self._busy: dict[int, tuple[float, float | None]] = {}

    def after_process_boot(self, broker: Broker) -> None:
        self._active = True

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        if not self._active or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(worker,), name="heartbeat", daemon=True)
        self._thread.start()

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        self._busy[threading.get_ident()] = (time.time(), self.time_limit_seconds(broker, message))

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        self._busy.pop(threading.get_ident(), None)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._busy.pop(threading.get_ident(), None)

    @staticmethod
    def time_limit_seconds(broker: Broker, message: MessageProxy) -> float | None:
        """The message's time limit as TimeLimit applies it; None without that middleware."""
        default = next((m.time_limit for m in broker.middleware if isinstance(m, TimeLimit)), None)
        if default is None:
            return None
        try:
            actor = broker.get_actor(message.actor_name)
        except ActorNotFound:  # the worker fails the message; the beat only does not count it
            return None
        limit_ms = message.options.get("time_limit") or actor.options.get("time_limit", default)
        return float(limit_ms) / 1000

    def threads(self, worker: Worker) -> list[heartbeat.ThreadState]:
        """The state of each worker thread, for the beat."""
        states = []
        for thread in list(worker.workers):
            since, limit = self._busy.get(thread.ident or 0, (None, None))
            states.append(heartbeat.ThreadState(busy_since=since, time_limit=limit))
        return states

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._thread = None
        try:
            heartbeat.forget_file(ROLE)
        except OSError as exc:
            logger.warning("heartbeat file not removed: %s", exc)
        client = locks.redis_client()
        try:
            heartbeat.forget(client, ROLE)
        except Exception as exc:
            logger.warning("heartbeat not removed: %s", exc)
        finally:
            client.close()

    def _run(self, worker: Worker) -> None:
        client = locks.redis_client()
        withheld = stuck = False
        try:
            while True:
                problem = self.problem(worker)
                if problem is None:
                    threads = self.threads(worker)
                    try:
                        heartbeat.beat_file(ROLE, threads=threads)  # first: it must not wait for Redis
                    except OSError as exc:
                        logger.warning("heartbeat file not written: %s", exc)
                    try:
                        heartbeat.beat(client, ROLE, ttl=self.ttl, threads=threads)
                    except Exception as exc:
                        logger.warning("heartbeat not written: %s", exc)
                    withheld = False
                    now = time.time()
                    state = heartbeat.Beat(at=now, threads=tuple(threads))
                    was_stuck, stuck = stuck, state.stuck(now=now)
                    if stuck and not was_stuck:
                        logger.error("worker stuck: %s", heartbeat.stuck_reason(state, now=now))
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
