"""Every setting the pipeline reads from the environment, parsed strictly, in one place.

Plain Python (no Django) so that the scheduler and the worker's broker can use it.
"""

from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

#: Repository root: the default state folder lives under it.
BASE_DIR = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """An environment variable holds a value we refuse to guess about."""


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} is below its minimum {minimum}")
    return value


def env_str(name: str, default: str) -> str:
    raw = os.environ.get(name)
    return default if raw is None or raw.strip() == "" else raw.strip()


def state_dir() -> Path:
    """The folder that holds the embedded database, media and Redis data."""
    return Path(env_str("STATE_DIR", str(BASE_DIR / "var"))).resolve()


def local_env_file() -> Path:
    """Written by `make run`: the settings of the embedded default (DEBUG, a generated SECRET_KEY)."""
    return state_dir() / "local.env"


def load_local_env() -> None:
    """Take the embedded default's settings as defaults, so any command of this checkout finds them.

    Only variables not already in the environment are set; production has no such file.
    """
    path = local_env_file()
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() and not name.lstrip().startswith("#"):
            os.environ.setdefault(name.strip(), value.strip())


def embedded_redis_url_file() -> Path:
    """Written by the embedded Redis launcher so that every process of a checkout finds it."""
    return state_dir() / "redis" / "url"


def redis_url() -> str:
    """REDIS_URL when set, else the embedded Redis of this state folder."""
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        return url
    url_file = embedded_redis_url_file()
    if url_file.exists():
        return url_file.read_text().strip()
    return "redis://127.0.0.1:6379/0"


def redis_client_options() -> dict:
    """Timeouts for every Redis connection: a dead Redis must fail fast, never hang."""
    return {
        "socket_connect_timeout": env_int("REDIS_CONNECT_TIMEOUT", 5, minimum=1),
        "socket_timeout": env_int("REDIS_SOCKET_TIMEOUT", 15, minimum=1),
        "health_check_interval": 30,
        "retry_on_timeout": True,
    }


#: Worker budget: small by default so a cheap PaaS plan holds it.
WORKER_PROCESSES = env_int("WORKER_PROCESSES", 1, minimum=1)
WORKER_THREADS = env_int("WORKER_THREADS", 2, minimum=1)
#: Wake idle consumers through Redis pub/sub on every enqueue (pipeline/wakeup.py); off = Dramatiq's plain polling.
WORKER_WAKEUP = env_bool("WORKER_WAKEUP", True)
#: With wake-ups on, the slowest an idle consumer polls Redis (ms): only the safety net for a lost wake-up.
WORKER_IDLE_POLL_MS = env_int("WORKER_IDLE_POLL_MS", 5000, minimum=100)

#: Queues, and the namespace Dramatiq uses for its Redis keys.
DEFAULT_QUEUE = "default"
RENDER_QUEUE = "render"

#: The clock: a crontab (minute hour day month weekday; a sixth leading field is seconds).
SCHEDULE_CRON = env_str("SCHEDULE_CRON", "*/15 * * * *")

#: Largest attachment we store; Outlook refuses to send more than 150 MB.
MAX_ATTACHMENT_BYTES = env_int("MAX_ATTACHMENT_MB", 150, minimum=1) * 1024 * 1024

#: Work left pending longer than this is enqueued again by the next tick. PIPELINE_STALE_SECONDS,
#: when set, wins over PIPELINE_STALE_MINUTES (finer grain, for tests and impatient operators).
STALE_AFTER_SECONDS = (
    env_int("PIPELINE_STALE_SECONDS", 0, minimum=1) or env_int("PIPELINE_STALE_MINUTES", 10, minimum=1) * 60
)

#: A message delivered this many times without finishing is quarantined.
MAX_DELIVERIES = env_int("PIPELINE_MAX_DELIVERIES", 5, minimum=1)

#: Redis key prefix for the pipeline's own keys (locks, slots, heartbeats).
KEY_PREFIX = env_str("PIPELINE_KEY_PREFIX", "invoicemail")
