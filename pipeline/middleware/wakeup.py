"""Announce every enqueue, and in a worker process listen for announcements (see pipeline/wakeup.py)."""

from __future__ import annotations

from dramatiq.middleware import Middleware

from .. import wakeup


class Wakeup(Middleware):
    def __init__(self) -> None:
        self.listener: wakeup.Listener | None = None

    def after_enqueue(self, broker, message, delay) -> None:
        wakeup.announce(broker.client, broker.namespace, message.queue_name)

    def after_worker_boot(self, broker, worker) -> None:
        self.listener = wakeup.Listener(broker.client, broker.namespace)
        self.listener.start()

    def before_worker_shutdown(self, broker, worker) -> None:
        if self.listener is not None:
            self.listener.stop()
        wakeup.stopping()  # idle consumers notice the shutdown now, not at their next slow poll
