"""Redis keys that keep the clock and the mailboxes in order.

- one key per schedule slot (SET NX with expiry): two schedulers send one tick per slot;
- one lock per mailbox: two runs never read the same mailbox at once; a dead holder's
  lock expires by itself.
"""

from __future__ import annotations

import functools
import time

import redis

from . import config, redis_clients

#: A slot key outlives its slot by far, so a late second scheduler still sees it.
SLOT_KEY_TTL_SECONDS = 24 * 3600


def redis_client(url: str | None = None) -> redis.Redis:
    return redis_clients.connect(url)


@functools.cache
def shared_client() -> redis.Redis:
    """One connection pool per process for the pipeline's own keys."""
    return redis_client()


def key(*parts: object) -> str:
    return ":".join([config.KEY_PREFIX, *map(str, parts)])


def claim_slot(client: redis.Redis, slot: str) -> bool:
    """True for the first caller of this slot only."""
    return bool(client.set(key("tick", slot), str(time.time()), nx=True, ex=SLOT_KEY_TTL_SECONDS))


def mailbox_lock(client: redis.Redis, mailbox_id: int, *, timeout_seconds: int) -> redis.lock.Lock:
    lock: redis.lock.Lock = client.lock(key("mailbox", mailbox_id, "lock"), timeout=timeout_seconds, blocking=False)
    return lock
