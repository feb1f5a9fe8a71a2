"""Wake an idle worker the moment work arrives, instead of making it poll Redis often.

Dramatiq's Redis consumer polls: when a queue is empty it sleeps, backing off up to
`dramatiq_worker_timeout` ms, so an idle worker trades enqueue-to-start latency for Redis
commands. Here every enqueue also PUBLISHes the queue's name on one channel; each worker
process listens on it (one blocking connection, no polling) and wakes the consumer of that
queue at once. The poll stays as the safety net: a lost or missed notification only delays
a message until the next poll, so the poll can be slow (cheap) without making work wait.
"""

from __future__ import annotations

import logging
import threading

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff

from . import config

logger = logging.getLogger(__name__)

#: Seconds between attempts to listen again after the notification connection broke.
RECONNECT_SECONDS = 2.0

_events: dict[str, threading.Event] = {}
_stopping = threading.Event()
_events_lock = threading.Lock()


def channel(namespace: str) -> str:
    """The one channel every enqueue of a broker namespace is announced on."""
    return f"{config.KEY_PREFIX}:wake:{namespace}"


def event_for(queue_name: str) -> threading.Event:
    with _events_lock:
        return _events.setdefault(queue_name, threading.Event())


def stopping() -> None:
    """The worker is shutting down: consumers stop waiting long, so they notice at once."""
    _stopping.set()
    wake()


def wake(queue_name: str | None = None) -> None:
    """Wake the consumers of `queue_name` in this process (every consumer when None)."""
    with _events_lock:
        events = list(_events.values()) if queue_name is None else [_events.get(queue_name)]
    for event in events:
        if event is not None:
            event.set()


class WakeableConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer whose idle sleep ends early when its queue is announced or a message is done.

    Fetching, decoding and bookkeeping stay Dramatiq's own: `__next__` calls the upstream one with
    its backoff ceiling (`timeout`) at 0, so the upstream idle sleep lasts 0 ms, and then waits
    itself, on an event that an announcement, an ack or a nack sets.
    tests/unit/test_dramatiq_consumer_shape.py fails when the upstream code this relies on changes.

    Dramatiq's consumer also backs off while its prefetch is full (every thread busy), so
    after a long message it may sleep up to the poll timeout before fetching the next one,
    leaving threads idle while work waits; with prefetch = threads that happens often.
    Here an ack or nack ends that sleep too, and only that one: after a fetch that found the
    queue empty, room in the prefetch brings no message, so only an announcement (or the
    poll) makes it fetch again. Waking on every ack there cost a Redis round trip per message.
    """

    def __init__(self, broker: RedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        # compute_backoff(..., max_backoff=0) is 0 ms: upstream's own idle sleep is skipped; _idle_wait replaces it.
        super().__init__(broker, queue_name, prefetch, 0)
        # `timeout` (dramatiq_worker_timeout) still paces the worker threads and shutdown; the idle
        # poll can be slower, since an announcement ends the wait at once.
        self.idle_poll_ms = max(timeout, config.WORKER_IDLE_POLL_MS)
        self._wake = event_for(queue_name)
        self._waiting_for_room = False

    def ack(self, message: MessageProxy) -> None:
        try:
            super().ack(message)
        finally:
            self._room_made()

    def nack(self, message: MessageProxy) -> None:
        try:
            super().nack(message)
        finally:
            self._room_made()

    def _room_made(self) -> None:
        if self._waiting_for_room:  # fetch the next message now, not after a backoff
            self._wake.set()

    def _full(self) -> bool:
        return bool(self.outstanding_message_count >= self.prefetch)

    def __next__(self) -> MessageProxy | None:
        # Upstream fetches when its cache is empty and the prefetch has room; worker threads only
        # ever make room meanwhile, so a prefetch with room now is one that upstream fetches for.
        full = not self.message_cache and self._full()
        message: MessageProxy | None = super().__next__()
        if message is None:  # upstream returns None only when it fetched nothing (queue empty or prefetch full)
            self._idle_wait(for_room=full)
        return message

    def _idle_wait(self, *, for_room: bool) -> None:
        # Upstream has already counted this miss; `- 1` gives the same backoff it would have slept.
        _, backoff_ms = compute_backoff(self.misses - 1, max_backoff=self.idle_poll_ms)
        if _stopping.is_set():  # the worker shuts down: be as quick as Dramatiq's own
            backoff_ms = min(backoff_ms, 100)
        self._waiting_for_room = for_room
        try:
            if for_room and not self._full():  # an ack made room before this wait began
                self.misses = 0
                return
            # Cleared only after waking, before the next fetch: an announcement that arrives between
            # the fetch and this wait is never lost.
            if self._wake.wait(backoff_ms / 1000):
                self._wake.clear()
                self.misses = 0
        finally:
            self._waiting_for_room = False


class WakeableRedisBroker(RedisBroker):
    @property
    def consumer_class(self) -> type[WakeableConsumer]:
        return WakeableConsumer


class Listener(threading.Thread):
    """Listens on the channel for the whole life of a worker process; reconnects on its own."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        super().__init__(name="wakeup-listener", daemon=True)
        self.client = client
        self.channel = channel(namespace)
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._listen()
            except Exception as exc:
                logger.warning("wake-up listener lost Redis (%s); polling only until it is back", exc)
                wake()  # whatever was announced meanwhile: look now
                self.stopping.wait(RECONNECT_SECONDS)

    def _listen(self) -> None:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
            wake()  # announcements made before we subscribed
            while not self.stopping.is_set():
                # Blocks on the socket (no command is sent) for up to a second, then checks stopping.
                message = pubsub.get_message(timeout=1.0)
                if message and message.get("type") == "message":
                    wake(message["data"].decode())
        finally:
            pubsub.close()

    def stop(self) -> None:
        self.stopping.set()


def announce(client: redis.Redis, namespace: str, queue_name: str) -> None:
    try:
        client.publish(channel(namespace), queue_name)
    except redis.RedisError as exc:  # the message is enqueued; it waits for the next poll at worst
        logger.debug("could not announce a message on %s: %s", queue_name, exc)


__all__ = ["Listener", "WakeableConsumer", "WakeableRedisBroker", "announce", "channel", "wake"]
