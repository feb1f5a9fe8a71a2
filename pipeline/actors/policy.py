"""Retry policy shared by the actors: what a failed delivery leaves behind is decided here, once."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from django.core.exceptions import ObjectDoesNotExist
from django.db import InterfaceError, OperationalError
from dramatiq.middleware import CurrentMessage
from redis.exceptions import ConnectionError as RedisConnectionError

from pipeline.sources.base import SourceError

logger = logging.getLogger(__name__)

#: Errors that retrying cannot fix: the row is gone, or the input is bad for good.
PERMANENT_ERRORS = (ObjectDoesNotExist, ValueError)

#: Errors of something outside that will come back (the source, the database, Redis, the
#: network): a delivery that ended with one of them is not held against the message.
TRANSIENT_ERRORS = (SourceError, OperationalError, InterfaceError, RedisConnectionError, ConnectionError, TimeoutError)

SECOND = 1000
MINUTE = 60 * SECOND

#: An absolute path of two parts or more: never part of a reason people read.
_PATH = re.compile(r"(?<![\w/:.~-])/[^\s'\"/]+/[^\s'\",;)]*")


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
    """The error as recorded on a row: its type and message, file paths left out."""
    return without_paths(f"{type(exc).__name__}: {exc}")[:5000]


def without_paths(text: str) -> str:
    """`text` for people to read: absolute file paths (the state folder, a mail folder) become an ellipsis."""
    return _PATH.sub("…", text)


def failure_settle(
    exc: Exception,
    *,
    give_up: Callable[[str], object],
    retry: Callable[[str], object],
    release: Callable[[str], object] | None = None,
    last_attempt_gives_up: bool = True,
) -> bool:
    """Record what the failed delivery leaves behind; True when the actor must raise `exc` again.

    - It can never succeed (PERMANENT_ERRORS): `give_up(reason)` on the first try. Not raised:
      the row says why, so Dramatiq neither retries it nor keeps it as a dead letter.
    - An outage (TRANSIENT_ERRORS), for an actor that can `release`: not held against the work.
    - The last retry, when `last_attempt_gives_up`: `give_up("gave up after retries: ...")`.
    - Otherwise `retry(reason)`: recorded, retried by Dramatiq (and later the catch-up).
    Raised but for the first case. Each callback ends the delivery in the database.
    """
    reason = describe(exc)
    if isinstance(exc, PERMANENT_ERRORS):
        logger.warning("gave up on the first try, it can never succeed: %s", reason, exc_info=exc)
        give_up(reason)
        return False
    if release is not None and isinstance(exc, TRANSIENT_ERRORS):
        release(reason)
    elif last_attempt_gives_up and is_last_attempt():
        give_up(f"gave up after retries: {reason}")
    else:
        retry(reason)
    return True
