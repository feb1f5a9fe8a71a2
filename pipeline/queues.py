"""What is waiting in Redis: queue depths and dead letters, read from Dramatiq's keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import redis

from . import config

if TYPE_CHECKING:
    from dramatiq import Broker

#: Dramatiq's key namespace in Redis.
NAMESPACE = "dramatiq"
QUEUES = (config.DEFAULT_QUEUE, config.RENDER_QUEUE)


def queue_stats(client: redis.Redis) -> dict[str, dict[str, int]]:
    """Per queue: messages ready, delayed (retries waiting), in progress, and dead letters."""
    stats = {}
    for queue in QUEUES:
        name = f"{NAMESPACE}:{queue}"
        with client.pipeline(transaction=False) as pipe:
            pipe.llen(name)
            pipe.hlen(f"{name}.msgs")
            pipe.llen(f"{name}.DQ")
            pipe.zcard(f"{name}.XQ")
            ready, stored, delayed, dead = pipe.execute()
        stats[queue] = {"ready": ready, "in_progress": max(stored - ready, 0), "delayed": delayed, "dead": dead}
    return stats


#: Where the reason of a dead letter is kept (DeadLetterReason middleware), as long as Dramatiq keeps the letter.
DEAD_REASON_TTL_SECONDS = 7 * 24 * 3600


def dead_reason_key(message_id: str) -> str:
    from .locks import key

    return key("dead", message_id)


def dead_letters(client: redis.Redis, *, limit: int = 200) -> list[dict[str, Any]]:
    """The dead letters of every queue, newest first: id, queue, actor, args, when, and why."""
    import json

    letters = []
    for queue in QUEUES:
        name = f"{NAMESPACE}:{queue}.XQ"
        for raw_id, score in cast("list[tuple[bytes, float]]", client.zrevrange(name, 0, limit - 1, withscores=True)):
            message_id = raw_id.decode()
            encoded = client.hget(f"{name}.msgs", message_id)
            if encoded is None:
                continue
            data = json.loads(encoded)
            options = data.get("options", {})
            reason = cast("bytes | None", client.get(dead_reason_key(message_id)))
            letters.append(
                {
                    "queue": queue,
                    "message_id": message_id,
                    "actor_name": data.get("actor_name", ""),
                    "args": data.get("args", []),
                    "kwargs": data.get("kwargs", {}),
                    "failed_at_ms": int(score),
                    "retries": options.get("retries", 0),
                    "reason": (reason.decode() if reason else "")
                    or options.get("traceback", "")
                    or "no reason stored (it failed at once on an error that is not retried)",
                }
            )
    return sorted(letters, key=lambda letter: letter["failed_at_ms"], reverse=True)[:limit]


def dead_letter_resend(client: redis.Redis, broker: Broker, *, queue: str, message_id: str) -> bool:
    """Send a dead letter again as a fresh delivery (retries reset) and drop it from the dead letters.

    True when it was found. The actors are idempotent, so a letter sent twice does no harm.
    """
    import json

    from dramatiq import Message

    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    name = f"{NAMESPACE}:{queue}.XQ"
    encoded = client.hget(f"{name}.msgs", message_id)
    if encoded is None:
        return False
    data = json.loads(encoded)
    options = {
        k: v
        for k, v in data.get("options", {}).items()
        if k not in {"retries", "traceback", "requeue_timestamp", "redis_message_id", "eta"}
    }
    broker.enqueue(
        Message(
            queue_name=queue,
            actor_name=data["actor_name"],
            args=tuple(data.get("args", ())),
            kwargs=data.get("kwargs", {}),
            options=options,
        )
    )
    with client.pipeline() as pipe:
        pipe.zrem(name, message_id)
        pipe.hdel(f"{name}.msgs", message_id)
        pipe.delete(dead_reason_key(message_id))
        pipe.execute()
    return True
