"""Heartbeats for probes: `python -m pipeline.heartbeat worker|scheduler [--live] [--max-age SECONDS]`.

Each worker process (pipeline/middleware/heartbeat.py) and each scheduler writes a `Beat` twice:
to a file of this pod's own disk, `STATE_DIR/heartbeats/<role>-<hostname>-<pid>.json`, and to
Redis, `invoicemail:<role>:<hostname>:<pid>:heartbeat` with a TTL. A beat holds the time it was
written and, for a worker, each worker thread's state (since when it has been busy with a
message, and that actor's time limit). A file's beat also holds when its process started
(`/proc/<pid>/stat`): a pid is reused, by the next container's PID 1 for one, and the folder
outlives a container (an emptyDir, a Compose volume), so a file counts only while the process
that wrote it runs. Each writer removes the files of its role that no longer count.

With `--live` (liveness) the command reads the files only: the process lives, whatever Redis
does, so an outage of Redis restarts no pod. It runs in the PID namespace of the processes it
judges (the container's, or the pod's with shareProcessNamespace). Without it (readiness) it reads Redis: the process
lives and reaches what it works with. Either way it exits 0 when a heartbeat of this host (a
Kubernetes pod's hostname is the pod's name) is at most `--max-age` seconds old and no worker
process on it is stuck: every one of its threads busy for longer than its time limit plus
`--grace` (a call blocked in C, which Dramatiq's time limit cannot interrupt, never comes back).
Otherwise it prints one line saying why and exits 1 (missing, stale or stuck) or 2 (Redis could
not be read). Plain Python, no Django and no Dramatiq, so that an exec probe stays cheap: about
20 MB for a fraction of a second.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from . import config, locks, redis_clients

#: How often a worker process writes its heartbeat, and how long one lasts.
WORKER_INTERVAL_SECONDS = 15
WORKER_TTL_SECONDS = 60
#: Default --max-age: a few missed beats, not one late one.
DEFAULT_MAX_AGE_SECONDS = {"worker": 60, "scheduler": 90}
#: Default --grace: how long past its time limit a thread may still be busy. A thread in Python code
#: gets Dramatiq's TimeLimitExceeded within a second or two (the sandbox's wait polls every 0.5 s).
STUCK_GRACE_SECONDS = 30.0
#: A heartbeat file of another host (a recreated Compose container) untouched this long is removed by any writer.
FORGOTTEN_FILE_SECONDS = 3600

#: Exit codes of the command.
OK, STALE, UNREADABLE = 0, 1, 2

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def process_key(role: str, *, hostname: str | None = None, pid: int | None = None) -> str:
    """The heartbeat key of one process of `role` ("worker" or "scheduler")."""
    return locks.key(role, hostname or socket.gethostname(), pid or os.getpid(), "heartbeat")


@dataclass(frozen=True)
class ThreadState:
    """One worker thread: busy since `busy_since` (wall time) with an actor of `time_limit` seconds, or idle."""

    busy_since: float | None = None
    time_limit: float | None = None

    def past_limit(self, *, now: float, grace: float) -> bool:
        if self.busy_since is None:
            return False
        return now - self.busy_since > (math.inf if self.time_limit is None else self.time_limit) + grace


@dataclass(frozen=True)
class Beat:
    """A heartbeat: when, each worker thread's state, and (in a file) when the writing process started."""

    at: float
    threads: tuple[ThreadState, ...] = ()
    started: int | None = None

    def stuck(self, *, now: float, grace: float = STUCK_GRACE_SECONDS) -> bool:
        """True when the process has worker threads and every one is busy past its time limit plus `grace`."""
        return bool(self.threads) and all(thread.past_limit(now=now, grace=grace) for thread in self.threads)

    def encode(self) -> str:
        threads = [[t.busy_since, t.time_limit] if t.busy_since is not None else None for t in self.threads]
        value: dict[str, object] = {"at": round(self.at, 3), "threads": threads}
        if self.started is not None:
            value["started"] = self.started
        return json.dumps(value)

    @classmethod
    def decode(cls, raw: bytes | str) -> Beat | None:
        """The beat in `raw`, or None when it is not one (a bare time, as older processes wrote, is one)."""
        try:
            value = json.loads(raw)
            if isinstance(value, int | float):
                return cls(at=float(value))
            threads = tuple(
                ThreadState() if t is None else ThreadState(float(t[0]), None if t[1] is None else float(t[1]))
                for t in value["threads"]
            )
            started = value.get("started")
            return cls(at=float(value["at"]), threads=threads, started=None if started is None else int(started))
        except (ValueError, TypeError, KeyError, IndexError):
            return None


def beat(client: redis.Redis, role: str, *, ttl: int, threads: Sequence[ThreadState] = ()) -> None:
    client.set(process_key(role), Beat(at=time.time(), threads=tuple(threads)).encode(), ex=ttl)


def forget(client: redis.Redis, role: str) -> None:
    """Remove this process's heartbeat: it stopped, so its probe must fail from now on."""
    client.delete(process_key(role))


def beats_dir(state_dir: str | Path | None = None) -> Path:
    """The folder of the heartbeat files, in the state folder: the pod's own disk (an emptyDir in Kubernetes)."""
    return (config.state_dir() if state_dir is None else Path(state_dir)) / "heartbeats"


def process_file(
    role: str, *, hostname: str | None = None, pid: int | None = None, directory: Path | None = None
) -> Path:
    """The heartbeat file of one process of `role`."""
    return (directory or beats_dir()) / f"{role}-{hostname or socket.gethostname()}-{pid or os.getpid()}.json"


def process_started(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (`/proc/<pid>/stat` field 22), or None when
    there is no such process in this PID namespace (or only its zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()  # the command name, in parentheses, may hold anything
    try:
        return None if fields[0] in (b"Z", b"X") else int(fields[19])
    except (IndexError, ValueError):
        return None


def runs(pid: int, found: Beat) -> bool:
    """True while the process that wrote `found` as `pid` still runs: same pid, same start time."""
    return found.started is not None and found.started == process_started(pid)


def beat_file(role: str, *, threads: Sequence[ThreadState] = (), directory: Path | None = None) -> None:
    """Write this process's beat to its file, whole or not at all (a probe never reads half of one), and
    remove the files of `role` whose process is gone."""
    path = process_file(role, directory=directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    found = Beat(at=time.time(), threads=tuple(threads), started=process_started(os.getpid()))
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # a new file, never a link
    try:
        with os.fdopen(fd, "w") as file:
            file.write(found.encode())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    prune_files(role, directory=path.parent)


def prune_files(role: str, *, hostname: str | None = None, directory: Path | None = None) -> None:
    """Remove the heartbeat files of `role` that no longer count: on this host, those whose process is
    gone (and their left-over temporary files); of another host, whose processes this one cannot see,
    those untouched for FORGOTTEN_FILE_SECONDS."""
    directory = directory or beats_dir()
    own = re.compile(
        rf"\.?{re.escape(role)}-{re.escape(hostname or socket.gethostname())}-(\d+)\.json(\.(?:.+\.)?tmp)?"
    )
    now = time.time()
    for path in [*directory.glob(f"{role}-*.json"), *directory.glob(f".{role}-*.tmp")]:
        try:
            if (matched := own.fullmatch(path.name)) is None:
                forgotten = now - path.lstat().st_mtime > FORGOTTEN_FILE_SECONDS
            else:
                pid, found = int(matched[1]), None if matched[2] else Beat.decode(path.read_bytes())
                forgotten = process_started(pid) is None if found is None else not runs(pid, found)
            if forgotten:
                path.unlink(missing_ok=True)
        except OSError:  # removed meanwhile, or unreadable: the next beat tries again
            continue


def forget_file(role: str) -> None:
    """Remove this process's heartbeat file: it stopped, so its liveness probe must fail from now on."""
    process_file(role).unlink(missing_ok=True)


def host_files(role: str, *, hostname: str, directory: Path | None = None) -> dict[str, Beat]:
    """Every heartbeat file of `role` on `hostname` whose process still runs: pid -> the beat."""
    beats = {}
    prefix = f"{role}-{hostname}-"
    try:
        paths = sorted((directory or beats_dir()).glob(f"{role}-*.json"))
    except OSError:
        return {}
    for path in paths:
        pid = path.name.removeprefix(prefix).removesuffix(".json")
        if not path.name.startswith(prefix) or not pid.isdigit():  # another host's, on a shared folder
            continue
        try:
            found = Beat.decode(path.read_bytes())
        except OSError:  # removed between the listing and the read: that process stopped
            continue
        if found is not None and runs(int(pid), found):  # else a dead process's, or another's with its pid
            beats[pid] = found
    return beats


def host_beats(client: redis.Redis, role: str, *, hostname: str) -> dict[str, Beat]:
    """Every heartbeat of `role` on `hostname`: key -> the beat."""
    pattern = locks.key(role, _GLOB_SPECIAL.sub(r"\\\1", hostname), "*", "heartbeat")
    keys = sorted(client.scan_iter(match=pattern, count=1000))
    beats = {}
    for key, value in zip(keys, client.mget(keys) if keys else [], strict=True):
        found = None if value is None else Beat.decode(value)  # None: expired between SCAN and MGET
        if found is not None:
            beats[key.decode() if isinstance(key, bytes) else key] = found
    return beats


def check(
    role: str,
    *,
    max_age: float,
    grace: float = STUCK_GRACE_SECONDS,
    hostname: str | None = None,
    client: redis.Redis | None = None,
) -> tuple[int, str]:
    """(exit code, one-line reason) for the heartbeats of `role` on this host."""
    hostname = hostname or socket.gethostname()
    own_client = client is None
    client = client or locks.redis_client()
    try:
        beats = {key.split(":")[-2]: found for key, found in host_beats(client, role, hostname=hostname).items()}
    except redis.RedisError as exc:
        if redis_clients.certificate_refused(exc):  # a setting to fix, not an outage: say which
            return UNREADABLE, f"{role} heartbeat unreadable: {exc}"
        return UNREADABLE, f"{role} heartbeat unreadable: Redis did not answer ({type(exc).__name__})"
    finally:
        if own_client:
            client.close()
    return judge(role, beats, max_age=max_age, grace=grace, hostname=hostname)


def check_live(
    role: str, *, max_age: float, grace: float = STUCK_GRACE_SECONDS, hostname: str | None = None
) -> tuple[int, str]:
    """(exit code, one-line reason) for the heartbeat files of `role` on this host: no Redis involved."""
    hostname = hostname or socket.gethostname()
    return judge(role, host_files(role, hostname=hostname), max_age=max_age, grace=grace, hostname=hostname)


def judge(role: str, beats: dict[str, Beat], *, max_age: float, grace: float, hostname: str) -> tuple[int, str]:
    """(exit code, one-line reason) for the beats of `role` on `hostname`, by process id."""
    if not beats:
        return STALE, f"no {role} heartbeat for host {hostname}: the process is not running or never booted"
    now = time.time()
    ages = sorted(now - found.at for found in beats.values())
    if ages[0] > max_age:
        return STALE, f"{role} heartbeat of host {hostname} is {ages[0]:.0f}s old (more than {max_age:g}s)"
    for pid, found in beats.items():
        if now - found.at <= max_age and found.stuck(now=now, grace=grace):
            return STALE, f"{role} process {pid} of host {hostname} is stuck: {stuck_reason(found, now=now)}"
    fresh = sum(1 for age in ages if age <= max_age)
    return OK, f"{role} alive on {hostname}: {fresh} fresh heartbeat(s), newest {ages[0]:.1f}s old"


def stuck_reason(found: Beat, *, now: float) -> str:
    busy = ", ".join(
        f"{now - t.busy_since:.0f}s (limit {t.time_limit:g}s)" for t in found.threads if t.busy_since is not None
    )
    return f"every worker thread is busy past its time limit: {busy}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.heartbeat",
        description="Exit 0 when this host's worker or scheduler heartbeat is fresh.",
    )
    parser.add_argument("role", choices=sorted(DEFAULT_MAX_AGE_SECONDS))
    parser.add_argument(
        "--live",
        action="store_true",
        help="liveness: read this pod's heartbeat files, not Redis (a Redis outage fails readiness only)",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help="oldest acceptable heartbeat (worker 60, scheduler 90)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=STUCK_GRACE_SECONDS,
        metavar="SECONDS",
        help=f"how long past its time limit a worker thread may be busy (default {STUCK_GRACE_SECONDS:g})",
    )
    args = parser.parse_args(argv)
    max_age = DEFAULT_MAX_AGE_SECONDS[args.role] if args.max_age is None else args.max_age
    try:
        if args.live:
            code, reason = check_live(args.role, max_age=max_age, grace=args.grace)
        else:
            code, reason = check(args.role, max_age=max_age, grace=args.grace)
    except config.ConfigError as exc:
        code, reason = UNREADABLE, f"error: {exc}"
    print(reason, file=sys.stdout if code == OK else sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
