"""The one place that builds the broker and its middleware."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage, default_middleware

from . import config, redis_clients
from .middleware.dead_letters import DeadLetterReason
from .middleware.graceful_stop import GracefulStop
from .middleware.heartbeat import Heartbeat
from .middleware.idle_trim import IdleTrim
from .middleware.log_context import LogContext
from .middleware.recycle import Recycle
from .middleware.wakeup import Wakeup
from .wakeup import WakeableRedisBroker


def build_broker(*, url: str | None = None, with_django: bool = True) -> RedisBroker:
    """A Redis broker with Dramatiq's default middleware plus ours.

    Passing `middleware=` replaces Dramatiq's defaults, so they are all listed here.
    `with_django=False` is for the scheduler, which only enqueues and never loads Django.
    """
    middleware = [m() for m in default_middleware]
    middleware += [CurrentMessage(), GracefulStop(), DeadLetterReason()]
    middleware.insert(0, LogContext())  # first: its context is set before, and cleared after, every other hook
    if with_django:
        from django_dramatiq.middleware import DbConnectionsMiddleware

        middleware.append(DbConnectionsMiddleware())
    if config.WORKER_WAKEUP:
        middleware.append(Wakeup())
    middleware.append(Heartbeat())  # liveness: python -m pipeline.heartbeat worker
    if with_django and config.get("WORKER_PROMETHEUS"):
        # Dramatiq's prometheus module makes a folder on import: only when on.
        from .middleware.prometheus import WorkerPrometheus

        middleware.append(WorkerPrometheus())  # an exposition server per worker master, on dramatiq_prom_port (9191)
    recycle = Recycle()
    middleware.append(IdleTrim(after_trim=recycle.after_idle_trim))  # an idle worker process gives its peak back
    middleware.append(recycle)  # last: counts a message once every other hook is done with it
    client = redis_clients.connect(url)
    broker_class = WakeableRedisBroker if config.WORKER_WAKEUP else RedisBroker
    return broker_class(client=client, middleware=middleware)


def setup_broker() -> RedisBroker:
    broker = build_broker()
    dramatiq.set_broker(broker)
    return broker
