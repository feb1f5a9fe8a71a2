"""What is waiting in Redis: queue depths and dead letters, read from Dramatiq's keys."""

from __future__ import annotations

import redis

from . import config

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
