"""The one place that builds the broker and its middleware."""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage, default_middleware

from . import config
from .middleware.graceful_stop import GracefulStop


def build_broker(*, url: str | None = None, with_django: bool = True) -> RedisBroker:
    """A Redis broker with Dramatiq's default middleware plus ours.

    Passing `middleware=` replaces Dramatiq's defaults, so they are all listed here.
    `with_django=False` is for the scheduler, which only enqueues and never loads Django.
    """
    middleware = [m() for m in default_middleware]
    middleware += [CurrentMessage(), GracefulStop()]
    if with_django:
        from django_dramatiq.middleware import DbConnectionsMiddleware

        middleware.append(DbConnectionsMiddleware())
    client = redis.Redis.from_url(url or config.redis_url(), **config.redis_client_options())
    return RedisBroker(client=client, middleware=middleware)


def setup_broker() -> RedisBroker:
    broker = build_broker()
    dramatiq.set_broker(broker)
    return broker
