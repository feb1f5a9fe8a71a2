"""`make run`: the whole system on one machine, from nothing, with one command.

State folder (`STATE_DIR`, default var/), embedded Redis unless REDIS_URL is set, migrations,
a local admin user, a demo mailbox, then the Procfile's web, worker and scheduler under
honcho. Ctrl-C stops them all, then Redis.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
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
        return _honcho(env)
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


#: honcho SIGKILLs what is still running 5 s after Ctrl-C; give the worker its shutdown timeout.
_HONCHO = "import honcho.manager, sys; honcho.manager.KILL_WAIT = int(sys.argv.pop(1)); import honcho.command; honcho.command.main()"


def _honcho(env: dict) -> int:
    kill_wait = str(config.get("WORKER_SHUTDOWN_TIMEOUT_MS") // 1000 + 5)
    command = [
        sys.executable,
        "-c",
        _HONCHO,
        kill_wait,
        "start",
        "--procfile",
        "Procfile",
        "--port",
        env["PORT"],
        *PROCESSES,
    ]
    # PATH first lists the virtualenv, so the Procfile's `gunicorn`, `dramatiq` and `python` are ours.
    env = dict(env, PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    process = subprocess.Popen(command, env=env, cwd=config.BASE_DIR)
    signal.signal(signal.SIGTERM, lambda signum, frame: process.terminate())
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            # The terminal sent SIGINT to honcho as well: it is stopping its processes.
            print("\nStopping...", flush=True)


if __name__ == "__main__":
    sys.exit(main())
