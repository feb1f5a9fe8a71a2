"""An idle consumer polling Redis only every few seconds still starts new work at once."""

from __future__ import annotations

import threading
import time

import dramatiq
import redis

from pipeline import config, wakeup
from pipeline.middleware.wakeup import Wakeup


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
        wakeup.wake()
        thread.join(10)
        listener.stop()
        listener.join(5)
        consumer.close()
        broker.close()


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
