"""Retry policy helpers shared by the actors."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.db import InterfaceError, OperationalError
from dramatiq.middleware import CurrentMessage
from redis.exceptions import ConnectionError as RedisConnectionError

from pipeline.sources.base import SourceError

#: Errors that retrying cannot fix: the row is gone, or the input is bad for good.
PERMANENT_ERRORS = (ObjectDoesNotExist, ValueError)

#: Errors of something outside that will come back (the source, the database, Redis, the
#: network): a delivery that ended with one of them is not held against the message.
TRANSIENT_ERRORS = (SourceError, OperationalError, InterfaceError, RedisConnectionError, ConnectionError, TimeoutError)

SECOND = 1000
MINUTE = 60 * SECOND


def is_last_attempt() -> bool:
    """True when the current message will not be retried if it fails now."""
    message = CurrentMessage.get_current_message()
    if message is None:
        return True
    from dramatiq import get_broker

    actor = get_broker().get_actor(message.actor_name)
    max_retries = message.options.get("max_retries", actor.options.get("max_retries", 0))
    return int(message.options.get("retries", 0)) >= int(max_retries)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:5000]
