"""The real scheduler.py, unmodified, with its clock moved across America/Santiago's changes
(libfaketime), and against a Redis that never answers: one tick per slot, idle in between, and a
SIGTERM that always ends it."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import signal
import socket
import threading
import time
from zoneinfo import ZoneInfo

import psutil
import pytest
import redis

from tests.support import needs
from tests.support.processes import ProcfileProcess, procfile_commands, wait_for

pytestmark = pytest.mark.slow

UTC = dt.UTC
SANTIAGO = ZoneInfo("America/Santiago")
#: A slot every ten seconds, so a change is crossed in under a minute of real time.
CRON = "*/10 * * * * *"
#: The scheduler's clock starts this long before the change (time to start up and tick once before it),
#: and the test waits until this long after. Slots every 5 s would halve the wait, but near a change a
#: seconds crontab costs a walk of an hour of matches per slot: CPU too close to what a spinning clock burns.
LEAD = dt.timedelta(seconds=15)
CHANGES = {
    "april: 00:00 -03 back to 23:00 -04": dt.datetime(2027, 4, 4, 3, tzinfo=UTC),
    "september: 00:00 -04 forward to 01:00 -03": dt.datetime(2027, 9, 5, 4, tzinfo=UTC),
}
_SENT = re.compile(r"tick sent for slot (\S+)")
_UNFINISHED = re.compile(r"the tick for slot (\S+) did not finish")


def _db_url(redis_url: str, db: int) -> str:
    return re.sub(r"/\d+$", "", redis_url) + f"/{db}"


def _faked(command: str, start: dt.datetime) -> str:
    """`command` with its clock started at `start`, preloaded rather than wrapped so that the
    scheduler stays the process that gets the signal and gives the exit code. TZ=UTC: libfaketime
    reads the start in the process's zone (the schedule's own zone is a setting). Monotonic time
    stays real, or every timed wait would last forever."""
    faked = f"LD_PRELOAD={needs.libfaketime()} FAKETIME='@{start:%Y-%m-%d %H:%M:%S}' DONT_FAKE_MONOTONIC=1 TZ=UTC"
    return f"env {faked} {command}"


def _scheduler_env(tmp_path, redis_url: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "STATE_DIR": str(tmp_path / "state"),
        "REDIS_URL": redis_url,
        "SCHEDULE_CRON": CRON,
        "SCHEDULE_TIMEZONE": "America/Santiago",
        "SCHEDULER_TICK_ON_START": "false",
        "LOG_FORMAT": "plain",
    }


def test_across_both_clock_changes_every_slot_ticks_once_and_the_process_idles(tmp_path, redis_url):
    """Both of Santiago's changes at once (one scheduler and Redis database each), to spend ~35 s."""
    runs = {}
    for db, (name, change) in enumerate(CHANGES.items(), start=5):
        before, after = change - dt.timedelta(seconds=1), change + dt.timedelta(seconds=1)
        assert before.astimezone(SANTIAGO).utcoffset() != after.astimezone(SANTIAGO).utcoffset(), name
        client = redis.Redis.from_url(_db_url(redis_url, db))
        client.flushdb()
        command = _faked(procfile_commands()["scheduler"], change - LEAD)
        env = _scheduler_env(tmp_path, _db_url(redis_url, db))
        runs[name] = (change, client, ProcfileProcess("scheduler", env, tmp_path, command=command))
    try:
        for change, client, scheduler in runs.values():
            # Until the slot 20 s past the change has ticked: 35 s of the faked clock.
            last_slot = (change + dt.timedelta(seconds=20)).isoformat()
            wait_for(
                lambda client=client, last_slot=last_slot: client.exists(f"invoicemail:tick:{last_slot}"),
                timeout=90,
                what=f"the tick of slot {last_slot}",
                processes=[scheduler],
            )
        cpu = {name: psutil.Process(run[2].pid).cpu_times() for name, run in runs.items()}
    finally:
        stopped_at = time.monotonic()
        exit_codes = {name: scheduler.stop(timeout=20) for name, (_, _, scheduler) in runs.items()}
    assert exit_codes == dict.fromkeys(runs, 0) and time.monotonic() - stopped_at < 10, exit_codes
    for name, (change, client, scheduler) in runs.items():
        slots = sorted(
            dt.datetime.fromisoformat(k.decode().split(":", 2)[2]) for k in client.keys("invoicemail:tick:*")
        )
        assert change in slots and slots[-1] >= change + dt.timedelta(seconds=20), (name, slots)
        gaps = [b - a for a, b in itertools.pairwise(slots)]
        assert set(gaps) == {dt.timedelta(seconds=10)}, (name, [s.isoformat() for s in slots], scheduler.log()[-4000:])
        sent = _SENT.findall(scheduler.log())
        assert sorted(dt.datetime.fromisoformat(s) for s in sent) == slots, f"{name}: one tick per slot, each once"
        assert client.llen("dramatiq:default") == len(slots), name
        # Idle between ticks: a clock that spins in the repeated hour burns a core (~40 s of CPU here).
        assert cpu[name].user + cpu[name].system < 8, (name, cpu[name])


class _SilentServer:
    """A TCP server that accepts connections and never answers: a Redis that hangs every call."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        for connection in self.connections:
            connection.close()
        self.sock.close()


def test_a_tick_that_never_returns_holds_neither_the_clock_nor_a_stop(tmp_path):
    server = _SilentServer()
    env = _scheduler_env(tmp_path, f"redis://127.0.0.1:{server.port}/0")
    env.update(SCHEDULE_CRON="*/2 * * * * *", REDIS_SOCKET_TIMEOUT="3600", REDIS_CONNECT_TIMEOUT="3600")
    scheduler = ProcfileProcess("scheduler", env, tmp_path)
    try:
        wait_for(
            lambda: len(_UNFINISHED.findall(scheduler.log())) >= 3,
            timeout=30,
            what="three slots whose ticks never finished",
            processes=[scheduler],
        )
        unfinished = _UNFINISHED.findall(scheduler.log())
        assert "unfinished ticks since this scheduler started: 3" in scheduler.log()
    finally:
        started = time.monotonic()
        os_exit = scheduler.stop(signal.SIGTERM, timeout=20)
        stop_seconds = time.monotonic() - started
        server.close()
    assert len(set(unfinished)) == len(unfinished), "each slot got a tick of its own while the first still hung"
    assert os_exit == 0 and stop_seconds < 5, (os_exit, stop_seconds, scheduler.log()[-2000:])
    assert "scheduler stopped" in scheduler.log()
