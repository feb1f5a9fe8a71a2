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

PROCESSES = ["web", "worker", "scheduler"]
#: Where the web of `make run` listens when WEB_BIND is unset: this machine only.
LOCAL_BIND = "127.0.0.1"


def main() -> int:
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
    if not config.get("REDIS_URL"):
        data_dir = state / "redis"
        redis = EmbeddedRedis.start(data_dir, port=port_for_state_dir(state, data_dir=data_dir))
        config.embedded_redis_url_file().write_text(redis.url + "\n")
        print(f"Redis (embedded, AOF on) at {redis.url}, data in {data_dir}", flush=True)
    try:
        _manage(env, "migrate", "--noinput", "--verbosity", "0")
        _manage(env, "collectstatic", "--noinput", "--verbosity", "0")
        _manage(env, "setup_local")
        print(f"\n  Open {_admin_url(env['WEB_BIND'], env['PORT'])}  (Ctrl-C stops everything)\n", flush=True)
        return _supervise(env)
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


def _procfile() -> dict[str, str]:
    commands = {}
    for line in (config.BASE_DIR / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and not name.startswith("#") and name.strip() in PROCESSES:
            commands[name.strip()] = command.strip()
    return commands


def _supervise(env: dict) -> int:
    """The Procfile's processes, run as honcho ran them, by this process (honcho forked a Python per process).

    Each runs in a session of its own, its lines prefixed with its name; once one stops, or at
    Ctrl-C, the others get SIGTERM, and SIGKILL if still running after the worker's shutdown timeout.
    """
    kill_wait = config.get("WORKER_SHUTDOWN_TIMEOUT_MS") / 1000 + 5
    # PATH first lists the virtualenv, so the Procfile's `gunicorn`, `dramatiq` and `python` are ours.
    env = dict(env, PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    stop = threading.Event()
    returncode: list[int] = []

    def stopping(signum: int, frame: object) -> None:
        if not stop.is_set():
            print(f"{_now()} system  | {signal.Signals(signum).name} received", flush=True)
            returncode.append(128 + signum)
            stop.set()

    signal.signal(signal.SIGINT, stopping)
    signal.signal(signal.SIGTERM, stopping)
    width = max(map(len, PROCESSES)) + 2
    running: dict[str, subprocess.Popen[bytes]] = {}
    for name, command in _procfile().items():
        process = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {command}"],
            env=env,
            cwd=config.BASE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the terminal's Ctrl-C reaches us only: we stop them in order
        )
        running[name] = process
        print(f"{_now()} system  | {name}.1 started (pid={process.pid})", flush=True)
        label = f"{name}.1".ljust(width)
        threading.Thread(target=_relay, args=(process, label), daemon=True).start()
    while not stop.wait(0.5):
        ended = next((process for process in running.values() if process.poll() is not None), None)
        if ended is not None:  # one process stopped: make run stops, with its status as a shell gives it
            returncode.append(128 - ended.returncode if ended.returncode < 0 else ended.returncode)
            break
    for name, process in running.items():
        if process.poll() is None:
            print(f"{_now()} system  | sending SIGTERM to {name}.1 (pid {process.pid})", flush=True)
            _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + kill_wait
    for name, process in running.items():
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{_now()} system  | sending SIGKILL to {name}.1 (pid {process.pid})", flush=True)
            _signal_group(process, signal.SIGKILL)
            process.wait()
        print(f"{_now()} system  | {name}.1 stopped (rc={process.returncode})", flush=True)
    return returncode[0]


def _relay(process: subprocess.Popen[bytes], label: str) -> None:
    """Print the process's lines under its name."""
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(f"{_now()} {label}| {line.decode(errors='replace').rstrip()}\n")
        sys.stdout.flush()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _now() -> str:
    return time.strftime("%H:%M:%S")


if __name__ == "__main__":
    sys.exit(main())
