"""Liveness from heartbeats in Redis: `python -m pipeline.heartbeat worker|scheduler [--max-age SECONDS]`.

Each worker process (pipeline/middleware/heartbeat.py) and each scheduler writes
`invoicemail:<role>:<hostname>:<pid>:heartbeat` (the time, with a TTL). The command exits 0
when a heartbeat of this host (a Kubernetes pod's hostname is the pod's name) is at most
`--max-age` seconds old, and otherwise prints one line saying why and exits 1 (missing or
stale) or 2 (Redis could not be read). Plain Python, no Django and no Dramatiq, so that an
exec probe stays cheap: about 20 MB for a fraction of a second.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import time

import redis

from . import config, locks, redis_clients

#: How often a worker process writes its heartbeat, and how long one lasts.
WORKER_INTERVAL_SECONDS = 15
WORKER_TTL_SECONDS = 60
#: Default --max-age: a few missed beats, not one late one.
DEFAULT_MAX_AGE_SECONDS = {"worker": 60, "scheduler": 90}

#: Exit codes of the command.
OK, STALE, UNREADABLE = 0, 1, 2

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def process_key(role: str, *, hostname: str | None = None, pid: int | None = None) -> str:
    """The heartbeat key of one process of `role` ("worker" or "scheduler")."""
    return locks.key(role, hostname or socket.gethostname(), pid or os.getpid(), "heartbeat")


def beat(client: redis.Redis, role: str, *, ttl: int) -> None:
    client.set(process_key(role), f"{time.time():.3f}", ex=ttl)


def forget(client: redis.Redis, role: str) -> None:
    """Remove this process's heartbeat: it stopped, so its probe must fail from now on."""
    client.delete(process_key(role))


def host_beats(client: redis.Redis, role: str, *, hostname: str) -> dict[str, float]:
    """Every heartbeat of `role` on `hostname`: key -> the time it was written."""
    pattern = locks.key(role, _GLOB_SPECIAL.sub(r"\\\1", hostname), "*", "heartbeat")
    keys = sorted(client.scan_iter(match=pattern, count=1000))
    beats = {}
    for key, value in zip(keys, client.mget(keys) if keys else [], strict=True):
        if value is None:  # expired between SCAN and MGET
            continue
        try:
            beats[key.decode() if isinstance(key, bytes) else key] = float(value)
        except ValueError:
            continue
    return beats


def check(
    role: str, *, max_age: float, hostname: str | None = None, client: redis.Redis | None = None
) -> tuple[int, str]:
    """(exit code, one-line reason) for the heartbeats of `role` on this host."""
    hostname = hostname or socket.gethostname()
    own_client = client is None
    client = client or locks.redis_client()
    try:
        beats = host_beats(client, role, hostname=hostname)
    except redis.RedisError as exc:
        if redis_clients.certificate_refused(exc):  # a setting to fix, not an outage: say which
            return UNREADABLE, f"{role} heartbeat unreadable: {exc}"
        return UNREADABLE, f"{role} heartbeat unreadable: Redis did not answer ({type(exc).__name__})"
    finally:
        if own_client:
            client.close()
    if not beats:
        return STALE, f"no {role} heartbeat for host {hostname}: the process is not running or never booted"
    now = time.time()
    ages = sorted(now - written for written in beats.values())
    if ages[0] > max_age:
        return STALE, f"{role} heartbeat of host {hostname} is {ages[0]:.0f}s old (more than {max_age:g}s)"
    fresh = sum(1 for age in ages if age <= max_age)
    return OK, f"{role} alive on {hostname}: {fresh} fresh heartbeat(s), newest {ages[0]:.1f}s old"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.heartbeat",
        description="Exit 0 when this host's worker or scheduler heartbeat is fresh.",
    )
    parser.add_argument("role", choices=sorted(DEFAULT_MAX_AGE_SECONDS))
    parser.add_argument(
        "--max-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help="oldest acceptable heartbeat (worker 60, scheduler 90)",
    )
    args = parser.parse_args(argv)
    max_age = DEFAULT_MAX_AGE_SECONDS[args.role] if args.max_age is None else args.max_age
    try:
        code, reason = check(args.role, max_age=max_age)
    except config.ConfigError as exc:
        code, reason = UNREADABLE, f"error: {exc}"
    print(reason, file=sys.stdout if code == OK else sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
