"""Keep the reason of every dead letter, so the admin can say why a message died.

Dramatiq stores the traceback of a failed attempt in the message only when it retries it;
a message that fails at once (an error listed in the actor's `throws`) or on its last attempt
reaches the dead letters with no word of its last error. This records it in Redis, beside them.
"""

from __future__ import annotations

import logging
from typing import Any

from dramatiq import Broker
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

logger = logging.getLogger(__name__)


class DeadLetterReason(Middleware):
    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        # After-hooks run in reverse order, before Retries decides: record every failed attempt's
        # error under the id the dead letter will carry; the last one is the dead letter's reason.
        if exception is None:
            return
        from pipeline import locks, queues

        reason = f"{type(exception).__name__}: {exception}"[:5000]
        letter_id = message.options.get("redis_message_id") or message.message_id
        try:
            locks.shared_client().set(queues.dead_reason_key(letter_id), reason, ex=queues.DEAD_REASON_TTL_SECONDS)
        except Exception:  # the letter is dead either way; its reason is a nicety
            logger.warning("reason of dead letter %s not recorded", message.message_id, exc_info=True)
