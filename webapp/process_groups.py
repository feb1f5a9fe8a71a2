"""Stopping the process groups we started: `make run`'s processes (webapp/run_local.py) and the tests' ones.

Each process is started in a session of its own, so it leads a group whose id is its pid. A group
is signalled whether or not its leader still lives: a gunicorn master killed first leaves its
workers in the group, a dramatiq master its worker processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

#: How long the members of a SIGKILLed group get to be gone (one in uninterruptible sleep takes longer).
KILL_WAIT = 5.0
#: How often a stop looks whether the groups are empty yet.
POLL_SECONDS = 0.05
PROC = Path("/proc")


class ProcessGroup:
    """A process started with `start_new_session=True` and the group it leads."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process

    @property
    def pgid(self) -> int:
        return self.process.pid

    def has_members(self) -> bool:
        """Whether a process of the group still runs: one that ended is no member, even before its parent reaps it."""
        if self.process.poll() is None:  # also reaps the leader once it ended
            return True
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # a member runs as another user now: still there
            return True
        return not PROC.is_dir() or _live_member(self.pgid)

    def signal(self, sig: int) -> None:
        """Send `sig` to every member; nothing once the group is empty (its id may then be another's)."""
        if self.has_members():
            with contextlib.suppress(ProcessLookupError, PermissionError):  # gone, or only another user's left
                os.killpg(self.pgid, sig)


def stop(
    groups: Sequence[ProcessGroup],
    sig: int = signal.SIGTERM,
    *,
    grace: float,
    forced: Callable[[], bool] = lambda: False,
) -> list[ProcessGroup]:
    """Send `sig` to every group, wait until all are empty, then SIGKILL the groups that still have members
    after `grace` seconds, or at once when `forced()` turns true; returns the groups SIGKILLed."""
    for group in groups:
        group.signal(sig)
    left = _wait_until_empty(groups, grace, forced)
    for group in left:
        group.signal(signal.SIGKILL)
    _wait_until_empty(left, KILL_WAIT)
    return left


def _wait_until_empty(
    groups: Sequence[ProcessGroup], seconds: float, forced: Callable[[], bool] = lambda: False
) -> list[ProcessGroup]:
    """The groups that still have members once all are empty, `seconds` have passed or `forced()` is true."""
    deadline = time.monotonic() + seconds
    while True:
        left = [group for group in groups if group.has_members()]
        if not left or forced() or time.monotonic() >= deadline:
            return left
        time.sleep(POLL_SECONDS)


def _live_member(pgid: int) -> bool:
    """Whether a process of group `pgid` is more than a zombie (one whose new parent has not reaped it yet)."""
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, the last ")" ends it.
            state, _ppid, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
        except (OSError, ValueError):  # gone while we looked
            continue
        if int(pgrp) == pgid and state not in ("Z", "X"):
            return True
    return False
