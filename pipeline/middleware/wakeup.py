"""Announce every enqueue, and in a worker process listen for announcements (see pipeline/wakeup.py)."""

from __future__ import annotations

from typing import Any

from dramatiq import Broker, Message, Worker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware

from .. import wakeup


class Wakeup(Middleware):
    def __init__(self) -> None:
        self.listener: wakeup.Listener | None = None

    def after_enqueue(self, broker: Broker, message: Message[Any], delay: int) -> None:
        broker = _redis(broker)
        wakeup.announce(broker.client, broker.namespace, message.queue_name)

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        broker = _redis(broker)
        self.listener = wakeup.Listener(broker.client, broker.namespace)
        self.listener.start()

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        if self.listener is not None:
            self.listener.stop()
        wakeup.stopping()  # idle consumers notice the shutdown now, not at their next slow poll


def _redis(broker: Broker) -> RedisBroker:
    if not isinstance(broker, RedisBroker):
        raise TypeError(f"the wake-up needs the Redis broker, not {type(broker).__name__}")
    return broker
