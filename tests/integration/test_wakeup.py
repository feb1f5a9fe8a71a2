"""An idle consumer polling Redis only every few seconds still starts new work at once."""

from __future__ import annotations

import threading
import time

import dramatiq
import redis

from pipeline import config, wakeup
from pipeline.middleware.wakeup import Wakeup


def _close(thread: threading.Thread, listener: wakeup.Listener | None, consumer, broker) -> None:
    wakeup.wake()  # a consumer thread still waiting returns now
    thread.join(10)
    if listener is not None:
        listener.stop()
        listener.join(5)
    consumer.close()
    broker.close()


def _broker(url: str) -> wakeup.WakeableRedisBroker:
    return wakeup.WakeableRedisBroker(client=redis.Redis.from_url(url), middleware=[Wakeup()], namespace="wakeup-test")


def test_an_announced_message_ends_the_idle_wait(redis_client, redis_url):
    broker = _broker(redis_url)
    broker.declare_queue("default")
    listener = wakeup.Listener(broker.client, broker.namespace)
    listener.start()
    consumer = broker.consume("default", prefetch=1, timeout=1000)
    assert consumer.idle_poll_ms == config.WORKER_IDLE_POLL_MS >= 1000
    received: list[float] = []
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            message = next(consumer)
            if message is not None:
                received.append(time.monotonic())
                consumer.ack(message)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    try:
        time.sleep(4)  # long enough for the backoff to reach seconds
        sent = time.monotonic()
        broker.enqueue(dramatiq.Message(queue_name="default", actor_name="anything", args=(), kwargs={}, options={}))
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.005)
        assert received, "never consumed"
        assert received[0] - sent < 0.5, f"took {received[0] - sent:.3f}s: the wake-up did not reach the consumer"
    finally:
        stop.set()
        _close(thread, listener, consumer, broker)


def test_a_lost_announcement_is_caught_by_the_poll(redis_client, redis_url):
    broker = wakeup.WakeableRedisBroker(client=redis.Redis.from_url(redis_url), middleware=[], namespace="wakeup-test2")
    broker.declare_queue("default")
    consumer = broker.consume("default", prefetch=1, timeout=100)
    consumer.idle_poll_ms = 200  # the safety poll, made short for the test
    broker.enqueue(dramatiq.Message(queue_name="default", actor_name="anything", args=(), kwargs={}, options={}))
    deadline = time.monotonic() + 5
    message = None
    while message is None and time.monotonic() < deadline:
        message = next(consumer)
    assert message is not None
    consumer.ack(message)
    consumer.close()
    broker.close()


class FetchCountingBroker(wakeup.WakeableRedisBroker):
    """The real broker, counting the fetches its consumers send to Redis."""

    fetches = 0

    def __getattr__(self, name: str):
        command = super().__getattr__(name)
        if name != "do_fetch":
            return command

        def counted(*args):
            type(self).fetches += 1
            return command(*args)

        return counted


def _message() -> dramatiq.Message:
    return dramatiq.Message(queue_name="default", actor_name="anything", args=(), kwargs={}, options={})


def _consume_into(consumer, received: list, stop: threading.Event) -> threading.Thread:
    def consume() -> None:
        while not stop.is_set():
            message = next(consumer)
            if message is not None:
                received.append(message)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    return thread


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


def test_an_ack_after_an_empty_fetch_does_not_end_the_wait(redis_client, redis_url):
    """Room in the prefetch brings no message when the queue was empty: only an announcement ends the wait."""
    broker = FetchCountingBroker(client=redis.Redis.from_url(redis_url), middleware=[Wakeup()], namespace="wakeup-t3")
    broker.declare_queue("default")
    listener = wakeup.Listener(broker.client, broker.namespace)
    listener.start()
    consumer = broker.consume("default", prefetch=2, timeout=100)
    consumer.idle_poll_ms = 30_000
    broker.enqueue(_message())
    first = None
    while first is None:  # the first poll may come before the message is there
        first = next(consumer)
    consumer.misses = 20  # long idle already: its next wait lasts the whole slow poll
    time.sleep(0.2)
    wakeup.event_for("default").clear()  # the first message's own announcement, already served
    waiting = threading.Thread(target=next, args=(consumer,), daemon=True)
    waiting.start()  # fetches, finds the queue empty, waits
    try:
        assert _wait_for(lambda: FetchCountingBroker.fetches >= 2, 5)
        fetches = FetchCountingBroker.fetches
        consumer.ack(first)  # as a worker thread does, while the consumer waits
        waiting.join(0.5)
        assert waiting.is_alive(), "the ack ended the idle wait: a Redis round trip for nothing"
        assert FetchCountingBroker.fetches == fetches
        broker.enqueue(_message())
        waiting.join(1.0)
        assert not waiting.is_alive(), "the announcement did not end the wait"
    finally:
        _close(waiting, listener, consumer, broker)


def test_an_ack_that_makes_room_fetches_the_waiting_message_at_once(redis_client, redis_url):
    # No announcements at all: only the ack can end the wait before the slow poll.
    broker = wakeup.WakeableRedisBroker(client=redis.Redis.from_url(redis_url), middleware=[], namespace="wakeup-t4")
    broker.declare_queue("default")
    broker.enqueue(_message())
    broker.enqueue(_message())
    consumer = broker.consume("default", prefetch=1, timeout=100)
    consumer.idle_poll_ms = 30_000
    received: list = []
    stop = threading.Event()
    thread = _consume_into(consumer, received, stop)
    try:
        assert _wait_for(lambda: received, 5), "never consumed"
        time.sleep(0.5)  # the prefetch is full: it waits for room
        assert len(received) == 1
        acked = time.monotonic()
        consumer.ack(received[0])
        assert _wait_for(lambda: len(received) == 2, 1.0), "the ack did not end the wait for room"
        assert time.monotonic() - acked < 1.0
    finally:
        stop.set()
        _close(thread, None, consumer, broker)
