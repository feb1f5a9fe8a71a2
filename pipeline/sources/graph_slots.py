"""A Redis semaphore per mailbox: at most N Graph requests in flight across every worker.

Graph allows 4 concurrent requests per app and mailbox, and workers run several threads
in several processes (maybe on several hosts), so the count lives in Redis: a sorted set
of slot tokens scored by when they were last renewed. A slot whose holder died expires
by itself after `ttl` seconds; a long download renews its slot as it goes.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .base import SourceError

if TYPE_CHECKING:
    import redis

#: Atomically drop expired slots, then take one if fewer than the limit are held.
_ACQUIRE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 60)
  return 1
end
return 0
"""
#: First pause between attempts to get a slot; it grows up to `_MAX_POLL`.
_FIRST_POLL = 0.02
_MAX_POLL = 0.25


class Slot:
    """A held slot; `renew()` pushes its expiry back (call it during long transfers)."""

    def __init__(self, semaphore: MailboxSemaphore, token: str) -> None:
        self._semaphore, self.token = semaphore, token
        self._renewed = time.monotonic()

    def renew(self, *, every: float = 5.0) -> None:
        if time.monotonic() - self._renewed >= every:
            self._semaphore.client.zadd(self._semaphore.key, {self.token: time.time()}, xx=True)
            self._renewed = time.monotonic()


class MailboxSemaphore:
    def __init__(self, client: redis.Redis, key: str, *, limit: int, ttl: float, wait: float) -> None:
        self.client, self.key, self.limit, self.ttl, self.wait = client, key, limit, ttl, wait
        self._script = client.register_script(_ACQUIRE)

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait
        pause = _FIRST_POLL
        try:
            while not self._script(keys=[self.key], args=[time.time(), self.ttl, self.limit, token]):
                if time.monotonic() > deadline:
                    raise SourceError(f"no free Graph request slot for {self.wait:.0f}s ({self.limit} in use)")
                time.sleep(pause)
                pause = min(pause * 1.5, _MAX_POLL)
        except SourceError:
            raise
        except Exception as exc:  # Redis down: no way to keep the limit, so no request
            raise SourceError(f"cannot reach Redis for the Graph request limit: {type(exc).__name__}: {exc}") from exc
        try:
            yield Slot(self, token)
        finally:
            with contextlib.suppress(Exception):  # the slot expires by itself
                self.client.zrem(self.key, token)


def mailbox_semaphore(mailbox: str, *, limit: int, ttl: float, wait: float) -> MailboxSemaphore:
    from pipeline import locks

    return MailboxSemaphore(
        locks.shared_client(), locks.key("graph", "slots", mailbox.lower()), limit=limit, ttl=ttl, wait=wait
    )
