"""Log context for every message: actor, Dramatiq message id, queue and the actor's ids, then one
line per message with its duration and outcome. Actors add what they learn (run id, mailbox)
with `pipeline.logs.add_context`.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from typing import Any

from dramatiq import Broker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from .. import logs

logger = logging.getLogger(__name__)

#: An actor argument whose name would be confused with the Dramatiq message id.
RENAMED_ARGS = {"message_id": "mail_id"}


class LogContext(Middleware):
    def __init__(self) -> None:
        self._params: dict[str, list[str]] = {}
        self._local = threading.local()  # one message at a time per worker thread

    def _arg_names(self, broker: Broker, actor_name: str) -> list[str]:
        if actor_name not in self._params:
            try:
                fn = broker.get_actor(actor_name).fn
                names = [
                    n
                    for n, p in inspect.signature(fn).parameters.items()
                    if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                ]
            except Exception:
                names = []
            self._params[actor_name] = [RENAMED_ARGS.get(n, n) for n in names]
        return self._params[actor_name]

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        logs.clear_context()
        ids = {
            name: value
            for name, value in zip(self._arg_names(broker, message.actor_name), message.args, strict=False)
            if isinstance(value, (int, str))
        }
        logs.add_context(actor=message.actor_name, message_id=message.message_id, queue=message.queue_name, **ids)
        self._local.started = time.monotonic()

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        started, self._local.started = getattr(self._local, "started", None), None
        duration_ms = round((time.monotonic() - started) * 1000, 1) if started is not None else None
        if exception is None:
            logger.info(
                "%s done in %s ms", message.actor_name, duration_ms, extra={"duration_ms": duration_ms, "outcome": "ok"}
            )
        else:
            logger.warning(
                "%s failed after %s ms: %s",
                message.actor_name,
                duration_ms,
                type(exception).__name__,
                extra={"duration_ms": duration_ms, "outcome": "error", "error": type(exception).__name__},
            )
        logs.clear_context()

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self._local.started = None
        logs.clear_context()
