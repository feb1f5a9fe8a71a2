"""`make run`: the whole system on one machine, from nothing, with one command.

State folder (`STATE_DIR`, default var/), embedded Redis unless REDIS_URL is set, migrations,
a local admin user, a demo mailbox, then the Procfile's web, worker and scheduler, run by this
process as honcho would run them. Ctrl-C stops them all, then Redis.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pipeline import config
from pipeline.embedded_redis import EmbeddedRedis, port_for_state_dir
from webapp import process_groups

PROCESSES = ["web", "worker", "scheduler"]
#: The management commands run before the processes start.
SET_UP = [
    ("migrate", "--noinput", "--verbosity", "0"),
    ("collectstatic", "--noinput", "--verbosity", "0"),
    ("setup_local",),
]
#: Where the web of `make run` listens when WEB_BIND is unset: this machine only.
LOCAL_BIND = "127.0.0.1"
#: How long, once the processes stopped, their last lines get to be printed (a pipe held open by a stray).
RELAY_WAIT = 2.0


def main() -> int:
    stopping = _Stopping()
    stopping.install()  # from the start: a SIGTERM during the set-up still stops Redis
    state = config.state_dir()
    state.mkdir(parents=True, exist_ok=True)
    _write_local_env(state)
    config.load_local_env()
    env = dict(os.environ, STATE_DIR=str(state))
    env.setdefault("SCHEDULER_TICK_ON_START", "true")
    env.setdefault("LOG_FORMAT", "plain")
    env["PORT"] = str(config.get("PORT"))
    # DEBUG is on: only this machine may reach it, unless WEB_BIND says otherwise.
    env["WEB_BIND"] = config.get("WEB_BIND") or LOCAL_BIND

    marker = config.announce_running_state_dir(state)  # commands in a second terminal find this state folder
    redis = None
    try:
        if not config.get("REDIS_URL"):
            data_dir = state / "redis"
            redis = EmbeddedRedis.start(data_dir, port=port_for_state_dir(state, data_dir=data_dir))
            config.embedded_redis_url_file().write_text(redis.url + "\n")
            print(f"Redis (embedded, AOF on) at {redis.url}, data in {data_dir}", flush=True)
        for step in SET_UP:
            if stopping.asked:  # a SIGTERM, which reaches this process alone: no step more
                break
            _manage(env, *step)
        if stopping.asked:
            return 128 + stopping.signals[0]
        print(f"\n  Open {_admin_url(env['WEB_BIND'], env['PORT'])}  (Ctrl-C stops everything)\n", flush=True)
        return _supervise(env, stopping)
    finally:
        marker.unlink(missing_ok=True)
        if redis is not None:
            redis.stop()
            print("Redis stopped.", flush=True)


def _admin_url(bind: str, port: str) -> str:
    host = "localhost" if bind in ("0.0.0.0", "[::]") else bind
    return f"http://{host}:{port}/admin/"


def _write_local_env(state: Path) -> None:
    """The embedded default's own settings, made once: DEBUG on and a secret key of its own."""
    path = config.local_env_file()
    if path.exists():
        return
    path.write_text(f"DEBUG=true\nSECRET_KEY={secrets.token_urlsafe(48)}\n")
    path.chmod(0o600)


def _manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], env=env, check=True, cwd=config.BASE_DIR)


class _Stopping:
    """Ctrl-C, SIGTERM or SIGHUP (the terminal closed) asks for the stop; one more during it forces it, as honcho does.

    The handler only records: it runs between any two bytecodes of the main thread, even inside a
    print or a lock's acquire, where printing or setting an Event could fail or deadlock.
    """

    def __init__(self) -> None:
        self.signals: list[int] = []

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is not signal.SIG_IGN:  # under nohup, or started in the background by sh
                signal.signal(sig, self._received)

    def _received(self, signum: int, frame: object) -> None:
        self.signals.append(signum)

    @property
    def asked(self) -> bool:
        return bool(self.signals)


def _supervise(env: dict, stopping: _Stopping) -> int:
    """The Procfile's processes, each run by bin/procfile as honcho would run it, by this process.

    Each runs in a session of its own, its lines prefixed with its name; once one stops, or at
    Ctrl-C, every group gets SIGTERM, and SIGKILL if it still has members after the worker's
    shutdown timeout, or at a second Ctrl-C.
    """
    kill_wait = config.get("WORKER_SHUTDOWN_TIMEOUT_MS") / 1000 + 5
    # PATH first lists the virtualenv, so the Procfile's `gunicorn`, `dramatiq` and `python` are ours.
    env = dict(env, PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    width = max(map(len, PROCESSES)) + 2
    started: dict[str, process_groups.ProcessGroup] = {}
    relays: list[threading.Thread] = []
    returncode = None
    try:
        for name in PROCESSES:
            if stopping.asked:
                break
            process = subprocess.Popen(
                [str(config.BASE_DIR / "bin" / "procfile"), name],
                env=env,
                cwd=config.BASE_DIR,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the terminal's Ctrl-C reaches us only: we stop them in order
            )
            started[name] = process_groups.ProcessGroup(process)
            relay = threading.Thread(target=_relay, args=(process, f"{name}.1".ljust(width)), daemon=True)
            relay.start()
            relays.append(relay)
            _system(f"{name}.1 started (pid={process.pid})")
        while not stopping.asked:
            ended = next((group.process for group in started.values() if group.process.poll() is not None), None)
            if ended is not None:  # one process stopped: make run stops, with its status as a shell gives it
                returncode = 128 - ended.returncode if ended.returncode < 0 else ended.returncode
                break
            time.sleep(0.2)
    finally:
        if stopping.asked:
            _system(f"{signal.Signals(stopping.signals[0]).name} received")
            returncode = 128 + stopping.signals[0] if returncode is None else returncode
        _stop(started, kill_wait, stopping)
        deadline = time.monotonic() + RELAY_WAIT
        for relay in relays:  # their last lines, which a process often prints as it stops
            relay.join(max(0.0, deadline - time.monotonic()))
    assert returncode is not None
    return returncode


def _stop(started: dict[str, process_groups.ProcessGroup], kill_wait: float, stopping: _Stopping) -> None:
    signals_before = len(stopping.signals)

    def forced() -> bool:  # a signal more during the stop
        return len(stopping.signals) > signals_before

    for name, group in started.items():
        if group.has_members():
            _system(f"sending SIGTERM to {name}.1 (pid {group.pgid})")
    killed = process_groups.stop(list(started.values()), grace=kill_wait, forced=forced)
    for name, group in started.items():
        if group in killed:
            why = "a second signal" if forced() else f"still running after {kill_wait:g} s"
            _system(f"sent SIGKILL to {name}.1 (pid {group.pgid}): {why}")
        _system(f"{name}.1 stopped (rc={group.process.returncode})")


def _relay(process: subprocess.Popen[bytes], label: str) -> None:
    """Print the process's lines under its name."""
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(f"{_now()} {label}| {line.decode(errors='replace').rstrip()}\n")
        sys.stdout.flush()


def _system(message: str) -> None:
    """A line of make run's own; with the terminal gone (OSError) the stop goes on."""
    with contextlib.suppress(OSError):
        print(f"{_now()} system  | {message}", flush=True)


def _now() -> str:
    return time.strftime("%H:%M:%S")


if __name__ == "__main__":
    sys.exit(main())
