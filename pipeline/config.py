"""Every environment variable the project reads, declared once and parsed strictly.

Plain Python (no Django) so that the scheduler and the worker's broker can use it. Each variable
is one `Setting` in SETTINGS (type, default, limits, what it is for); `get(name)` reads it from
the environment when called and refuses a value it would have to guess about. Nothing else reads
os.environ for configuration, .env.example lists every variable, and tests/unit/test_config.py
holds the three to each other. DEPLOYER_VARIABLES (at the end) names those a production deployment
sets itself; tests/deploy/test_deployer_variables.py holds the deployment files to it.
"""

from __future__ import annotations

import os
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

#: Repository root: the default state folder lives under it.
BASE_DIR = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """An environment variable holds a value we refuse to guess about."""


def _bool(name: str, raw: str) -> bool:
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None


def _float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


def _list(name: str, raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


#: How each kind of setting turns its text into a value.
_PARSERS = {bool: _bool, int: _int, float: _float, str: lambda name, raw: raw, list: _list}


@dataclass(frozen=True)
class Setting:
    """One environment variable: its type, its default, the values it may hold and what it is for."""

    name: str
    kind: type  # bool, int, float, str, or list (comma-separated)
    default: Any  # None: unset, and the reader decides (its description says how); a tuple for a list
    description: str
    _: KW_ONLY
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()  # matched without regard to case; the value is the choice as spelled here

    def read(self) -> Any:
        """The value in the environment now; unset or blank is the default (blank is false for a boolean)."""
        raw = os.environ.get(self.name)
        if raw is None or (not raw.strip() and self.kind is not bool):
            return list(self.default) if self.kind is list else self.default
        return self.validate(_PARSERS[self.kind](self.name, raw.strip()))

    def validate(self, value: Any) -> Any:
        if self.choices:
            match = next((choice for choice in self.choices if choice.lower() == value.lower()), None)
            if match is None:
                raise ConfigError(f"{self.name}={value!r}: use one of {', '.join(self.choices)}")
            return match
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"{self.name}={value} is below its minimum {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"{self.name}={value} is above its maximum {self.maximum}")
        return value


#: The names logging knows.
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: Seconds a Graph timeout, backoff or slot may be at the least (a positive number).
_SECONDS = 0.01

#: Every variable, grouped as in .env.example. The Procfile reads PORT and WEB_* itself (the
#: defaults there match these); the others are read by the Python code through `get`.
SETTINGS: dict[str, Setting] = {
    setting.name: setting
    for setting in (
        # Django
        Setting("SECRET_KEY", str, "", "Django's signing key; required when DEBUG is off"),
        Setting("DEBUG", bool, False, "Django debug mode (make run turns it on)"),
        Setting("ALLOWED_HOSTS", list, ("localhost", "127.0.0.1"), "host names the web answers, comma-separated"),
        Setting("HTTPS", bool, None, "secure cookies, HSTS, redirect to https; default: on when DEBUG is off"),
        Setting("SECURE_HSTS_SECONDS", int, None, "HSTS max-age; default: one year with HTTPS on, else 0", minimum=0),
        Setting("CSRF_TRUSTED_ORIGINS", list, (), "origins trusted for POSTs behind a proxy, comma-separated"),
        Setting("LOGIN_FAILURE_LIMIT", int, 5, "failed logins that lock an account, or an address", minimum=1),
        Setting("LOGIN_LOCKOUT_MINUTES", int, 15, "how long a locked account or address stays locked", minimum=1),
        Setting("TRUSTED_PROXY_COUNT", int, 0, "proxies in front that append to X-Forwarded-For; 0: none", minimum=0),
        Setting("TIME_ZONE", str, "America/Santiago", "the site's and the schedule's time zone"),
        Setting("LANGUAGE_CODE", str, "en", "language when the browser asks for none we have"),
        # Where things live
        Setting("DATABASE_URL", str, "", "PostgreSQL URL; SQLite in STATE_DIR when unset"),
        Setting("DB_CONN_MAX_AGE", int, 60, "seconds a database connection is kept open", minimum=0),
        Setting("REDIS_URL", str, "", "redis:// or rediss:// URL; the embedded Redis of make run when unset"),
        Setting("REDIS_CONNECT_TIMEOUT", int, 5, "seconds to connect to Redis before failing", minimum=1),
        Setting("REDIS_SOCKET_TIMEOUT", int, 15, "seconds a Redis command may take before failing", minimum=1),
        Setting("REDIS_TLS_CA_FILE", str, "", "PEM file of the CA of a rediss:// server; the system's CAs when unset"),
        Setting("REDIS_TLS_VERIFY", bool, True, "check a rediss:// server's certificate; false for a self-signed one"),
        Setting("STATE_DIR", str, "", "the embedded default's folder: SQLite, media, Redis data; ./var when unset"),
        Setting("FOLDER_MAILBOX_ROOT", str, "", "admin-made folder mailboxes read inside it; STATE_DIR when unset"),
        # Budget
        Setting("PORT", int, 8000, "the web's port (the Procfile and make run)", minimum=1, maximum=65535),
        Setting("WEB_BIND", str, None, "address the web listens on; default: 127.0.0.1 under make run, else 0.0.0.0"),
        Setting("WEB_CONCURRENCY", int, 1, "gunicorn worker processes (the Procfile)", minimum=1),
        Setting("WEB_THREADS", int, 4, "threads per gunicorn worker: requests at once (the Procfile)", minimum=1),
        Setting("WEB_TIMEOUT", int, 60, "seconds a worker may miss its heartbeat (the Procfile)", minimum=1),
        Setting("WEB_HEADER_TIMEOUT", int, 20, "seconds a request may take to arrive; then it is closed", minimum=1),
        Setting("WEB_MAX_REQUESTS", int, 1000, "requests before gunicorn recycles a worker (the Procfile)", minimum=0),
        Setting("WEB_MAX_REQUESTS_JITTER", int, 100, "random spread of WEB_MAX_REQUESTS (the Procfile)", minimum=0),
        Setting("WORKER_PROCESSES", int, 1, "Dramatiq worker processes", minimum=1),
        Setting("WORKER_THREADS", int, 2, "threads per Dramatiq worker process", minimum=1),
        Setting("WORKER_SHUTDOWN_TIMEOUT_MS", int, 25000, "grace for in-flight messages at SIGTERM", minimum=0),
        # 300 MB: a 512 MB plan holds web + scheduler + a worker process that reaches it. A reload costs about 2 s.
        Setting("WORKER_MAX_RSS_MB", int, 300, "reload a worker process past this memory; 0: never", minimum=0),
        Setting("WORKER_MAX_MESSAGES", int, 10_000, "reload a worker process after this many; 0: never", minimum=0),
        # After a burst, what stays is modules a message loaded and heap malloc_trim cannot return; a reload costs ~2 s.
        # Off by default until a stop that lands during such a reload is proven clean (README, Recycling).
        Setting(
            "WORKER_IDLE_RELOAD_MB",
            int,
            4,
            "reload an idle worker process still this much over its start size; 0: never",
            minimum=0,
        ),
        Setting("WORKER_WAKEUP", bool, True, "wake idle consumers through Redis pub/sub; off: plain polling"),
        Setting("WORKER_IDLE_POLL_MS", int, 5000, "slowest idle poll with wake-ups on (ms)", minimum=100),
        # The pipeline
        Setting("SCHEDULE_CRON", str, "*/15 * * * *", "the tick's crontab; a sixth leading field is seconds"),
        Setting("SCHEDULE_TIMEZONE", str, "", "time zone the crontab is read in; TIME_ZONE when unset"),
        Setting("SCHEDULER_TICK_ON_START", bool, False, "one extra tick when the scheduler starts"),
        Setting("MAX_ATTACHMENT_MB", int, 150, "larger attachments are recorded as failed, not stored", minimum=1),
        Setting("DTE_MAX_XML_MB", int, 20, "larger DTE XML is refused before parsing", minimum=1),
        Setting(
            "DTE_PARSE_IN_SAVE_MAX_KB",
            int,
            512,
            "an XML up to this size is parsed by the save that stored it; 0: every XML goes to the render queue",
            minimum=0,
        ),
        Setting("MAX_ATTACHMENTS_PER_MESSAGE", int, 200, "attachments kept per message; the rest are noted", minimum=1),
        Setting("MIME_MAX_HEADER_KB", int, 1024, "all header KB of one message; past it: quarantined", minimum=1),
        Setting("MIME_MAX_HEADERS", int, 1000, "header fields in one header block; past it: quarantined", minimum=1),
        Setting("MIME_MAX_PARTS", int, 1000, "MIME parts of one message; past it: quarantined", minimum=1),
        Setting("MIME_MAX_DEPTH", int, 50, "levels of parts inside parts; past it: quarantined", minimum=1),
        # Parsing and rendering run in a child process per worker thread (pipeline/sandbox.py), under these.
        Setting("SANDBOX_MEMORY_MB", int, 512, "address space one render or parse may use", minimum=64),
        Setting("SANDBOX_CPU_SECONDS", int, 20, "CPU time one render or parse may use", minimum=1),
        Setting("SANDBOX_WALL_SECONDS", float, 30.0, "seconds one render or parse may take", minimum=_SECONDS),
        Setting("PIPELINE_STALE_MINUTES", int, 10, "pending work older than this is sent again", minimum=1),
        Setting("PIPELINE_STALE_SECONDS", int, None, "the same in seconds; wins when set", minimum=1),
        Setting("PIPELINE_MAX_DELIVERIES", int, 5, "deliveries before a message is quarantined", minimum=1),
        Setting("PIPELINE_KEY_PREFIX", str, "invoicemail", "prefix of the pipeline's own Redis keys"),
        # Microsoft Graph mailboxes
        Setting("GRAPH_TENANT_ID", str, "", "the Entra ID tenant of the app"),
        Setting("GRAPH_CLIENT_ID", str, "", "the app's client id"),
        Setting("GRAPH_CLIENT_SECRET", str, "", "the app's client secret (or a certificate below)"),
        Setting("GRAPH_CLIENT_CERTIFICATE_PATH", str, "", "file with the PEM private key and certificate"),
        Setting("GRAPH_CLIENT_CERTIFICATE", str, "", "the same PEM text inline"),
        Setting("GRAPH_CLIENT_CERTIFICATE_THUMBPRINT", str, "", "the certificate's SHA-1 thumbprint"),
        Setting("GRAPH_ENDPOINT", str, "https://graph.microsoft.com", "the Graph root (a national cloud's)"),
        Setting("GRAPH_AUTHORITY_HOST", str, "https://login.microsoftonline.com", "where tokens come from (https)"),
        Setting("GRAPH_CONNECT_TIMEOUT", float, 10.0, "seconds to connect to Graph", minimum=_SECONDS),
        Setting("GRAPH_READ_TIMEOUT", float, 60.0, "seconds a Graph read may stall", minimum=_SECONDS),
        Setting("GRAPH_MAX_ATTEMPTS", int, 5, "tries of one Graph request", minimum=1),
        Setting("GRAPH_BACKOFF_SECONDS", float, 1.0, "first wait before a retry; doubles", minimum=_SECONDS),
        Setting("GRAPH_MAX_RETRY_AFTER", float, 120.0, "longest Retry-After we wait out", minimum=_SECONDS),
        Setting("GRAPH_MAX_CONCURRENCY", int, 4, "requests in flight per mailbox, all processes", minimum=1),
        Setting("GRAPH_SLOT_TTL", float, 120.0, "seconds a request slot is held at most", minimum=_SECONDS),
        Setting("GRAPH_SLOT_WAIT", float, 300.0, "seconds to wait for a free request slot", minimum=_SECONDS),
        # Storage
        Setting("STORAGE_BACKEND", str, "local", "where files go: local (STATE_DIR) or s3", choices=("local", "s3")),
        Setting("AWS_STORAGE_BUCKET_NAME", str, "", "the bucket; required with STORAGE_BACKEND=s3"),
        Setting("AWS_S3_REGION_NAME", str, "", "the bucket's region"),
        Setting("AWS_S3_ENDPOINT_URL", str, "", "S3-compatible stores only (R2, MinIO...)"),
        Setting(
            "AWS_S3_ADDRESSING_STYLE", str, "", "bucket in the path or the host", choices=("path", "virtual", "auto")
        ),
        Setting("AWS_LOCATION", str, "", "key prefix inside the bucket"),
        Setting("AWS_S3_SIGNATURE_VERSION", str, "s3v4", "request signing"),
        Setting("AWS_QUERYSTRING_EXPIRE", int, 300, "seconds a signed download URL lives", minimum=1),
        Setting("S3_UPLOAD_CONCURRENCY", int, 2, "parts of one upload sent at once", minimum=1),
        Setting(
            "ALLOW_EPHEMERAL_STORAGE",
            bool,
            False,
            "keep STORAGE_BACKEND=local on a platform whose disk is lost at restart or not shared (Heroku, Railway)",
        ),
        # Operations
        Setting("LOG_LEVEL", str, "INFO", "the root logger's level", choices=_LOG_LEVELS),
        Setting("LOG_FORMAT", str, "plain", "plain lines, or json (the Procfile's default)", choices=("plain", "json")),
        Setting("METRICS_TOKEN", str, "", "/metrics answers only to this bearer token; off when unset"),
        Setting("HEALTH_MAX_DEAD_LETTERS", int, 10, "/health/pipeline answers 503 from this many", minimum=1),
        Setting("WORKER_PROMETHEUS", bool, False, "Dramatiq's Prometheus server on :9191 per worker"),
        # make run
        Setting("ADMIN_USERNAME", str, "admin", "the local admin user setup_local makes"),
        Setting("ADMIN_PASSWORD", str, "", "its password; generated and shown once when unset"),
    )
}

#: Read by libraries themselves, never by our code; declared so that .env.example and the deployments are checked.
LIBRARY_VARIABLES = {
    "AWS_ACCESS_KEY_ID": "boto3: the S3 access key",
    "AWS_SECRET_ACCESS_KEY": "boto3: its secret",
    "REQUESTS_CA_BUNDLE": "requests: a CA bundle for Graph behind a TLS-inspecting proxy",
}

#: Set by the platform we run on, never by the deployer; read through `platform_variable` to know where we run.
PLATFORM_VARIABLES = {
    "DYNO": "Heroku: the dyno's name (web.1); set on every dyno, whose disk is lost at each restart",
    "RAILWAY_PROJECT_ID": "Railway: the project's id; set in every deployment",
    "RAILWAY_ENVIRONMENT_NAME": "Railway: the environment's name (production); set in every deployment",
    "RAILWAY_PUBLIC_DOMAIN": "Railway: the service's public domain (example.up.railway.app), when it has one",
}

#: The Host of Railway's health checks (docs.railway.com: Healthchecks, "Healthcheck Hostname").
RAILWAY_HEALTHCHECK_HOST = "healthcheck.railway.app"


#: Shortest SECRET_KEY taken with DEBUG off: what Django's own deployment check asks for.
SECRET_KEY_MIN_LENGTH = 50
#: Fewest different characters in it: a key of a few repeated ones is guessed at once.
SECRET_KEY_MIN_DISTINCT = 10
#: Words of keys written to be replaced: our examples' (CHANGE-ME, compose's old default) and Django's.
SECRET_KEY_PLACEHOLDERS = ("change-me", "changeme", "change_me", "insecure", "placeholder")


def secret_key() -> str:
    """Django's SECRET_KEY. With DEBUG off a missing or weak one is a ConfigError, one line that does not show it.

    With DEBUG on (make run) any key will do, and none means a fixed development one.
    """
    key: str = get("SECRET_KEY")
    if get("DEBUG"):
        return key or "insecure-local-development-key-only-used-with-DEBUG-on"
    if not key:
        if local_env_file().exists():
            raise ConfigError("set SECRET_KEY (required when DEBUG is off)")
        raise ConfigError(
            "set SECRET_KEY (required when DEBUG is off), or STATE_DIR to the state folder of a `make run`"
            f" ({state_dir()} has no local.env)"
        )
    if weakness := secret_key_weakness(key):
        raise ConfigError(
            f"SECRET_KEY {weakness}: with DEBUG off it must be a secret of its own,"
            ' e.g. python -c "import secrets; print(secrets.token_urlsafe(50))"'
        )
    return key


def secret_key_weakness(key: str) -> str | None:
    """What makes `key` unfit to sign sessions in production, said without showing it; None when nothing does."""
    lowered = key.lower()
    placeholder = next((word for word in SECRET_KEY_PLACEHOLDERS if word in lowered), None)
    if placeholder:
        return f"is a placeholder (it contains {placeholder!r})"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"is {len(key)} characters long; it needs at least {SECRET_KEY_MIN_LENGTH}"
    if len(set(key)) < SECRET_KEY_MIN_DISTINCT:
        return f"has only {len(set(key))} different characters; it needs at least {SECRET_KEY_MIN_DISTINCT}"
    return None


def get(name: str) -> Any:
    """The value of a declared variable, read from the environment now."""
    try:
        setting = SETTINGS[name]
    except KeyError:
        raise ConfigError(f"{name} is not declared in pipeline/config.py SETTINGS") from None
    return setting.read()


def platform_variable(name: str) -> str:
    """What the platform set in a variable of PLATFORM_VARIABLES ("" when unset)."""
    if name not in PLATFORM_VARIABLES:
        raise ConfigError(f"{name} is not declared in pipeline/config.py PLATFORM_VARIABLES")
    return os.environ.get(name, "").strip()


def on_railway() -> bool:
    return bool(platform_variable("RAILWAY_PROJECT_ID") or platform_variable("RAILWAY_ENVIRONMENT_NAME"))


def platform_hosts() -> list[str]:
    """Host names the platform we run on sends to the web by itself, to be allowed beside ALLOWED_HOSTS.

    On Railway: its health check's host (webapp/platform_hosts.py lets it reach /health/ only) and the
    service's public domain.
    """
    if not on_railway():
        return []
    return [RAILWAY_HEALTHCHECK_HOST, *filter(None, [platform_variable("RAILWAY_PUBLIC_DOMAIN")])]


def ephemeral_disk() -> str | None:
    """Why files written under STATE_DIR would be lost at the next restart (said in a few words); None if not."""
    if platform_variable("DYNO"):
        return "on Heroku (DYNO is set) every dyno's disk is lost at each restart and shared with no other dyno"
    if on_railway():
        # A volume would not do either: it belongs to one service, and the web serves what the worker stored.
        return "on Railway each service's disk is lost at each deploy, and a volume belongs to one service only"
    return None


def storage_backend() -> str:
    """STORAGE_BACKEND; local where the disk does not last is a ConfigError, unless ALLOW_EPHEMERAL_STORAGE says so.

    The web (settings) and the worker (which loads them) both refuse to start on it, in the same line.
    """
    backend: str = get("STORAGE_BACKEND")
    if backend == "local" and (why := ephemeral_disk()) and not get("ALLOW_EPHEMERAL_STORAGE"):
        raise ConfigError(
            f"STORAGE_BACKEND=local would lose every stored attachment: {why}; set STORAGE_BACKEND=s3"
            " (and AWS_STORAGE_BUCKET_NAME), or ALLOW_EPHEMERAL_STORAGE=true to keep the files on this disk anyway"
        )
    return backend


def state_dir() -> Path:
    """The folder that holds the embedded database, media and Redis data."""
    return Path(get("STATE_DIR") or BASE_DIR / "var").resolve()


def spool_dir() -> Path:
    """Where temporary files go while an attachment streams through (STATE_DIR/tmp), created if missing.

    Every spool the pipeline itself makes is here, so that a deployment sizes one folder: per thread, at
    most SPOOL_FILES_PER_THREAD files of MAX_ATTACHMENT_BYTES each at once. Libraries' own temp files
    (django-storages' buffer of an S3 object being read, Django's uploads) go to the system's temp folder.
    """
    directory = state_dir() / "tmp"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def running_markers_dir() -> Path:
    """Where each `make run` of this checkout leaves a file named by its pid that holds its state folder."""
    return BASE_DIR / "var" / "make-run"


def announce_running_state_dir(state: Path) -> Path:
    """`make run` started over `state`: the file that lets a second terminal's commands find it (remove it at exit)."""
    marker = running_markers_dir() / str(os.getpid())
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{Path(state).resolve()}\n")
    return marker


def running_state_dirs() -> set[Path]:
    """The state folders of the `make run`s running in this checkout now (a marker of a dead one is ignored)."""
    folders = set()
    for marker in running_markers_dir().glob("[0-9]*"):
        try:
            os.kill(int(marker.name), 0)
            folder = Path(marker.read_text().strip())
        except (OSError, ValueError):  # gone, or not ours to signal (another user's is not ours either)
            continue
        if folder.is_dir():
            folders.add(folder)
    return folders


def follow_running_state_dir() -> None:
    """A command typed with STATE_DIR unset works on the state folder of the `make run` running in this checkout.

    Nothing changes when STATE_DIR is set or no `make run` runs; two of them over different folders
    are a choice for the person to make.
    """
    if get("STATE_DIR"):
        return
    folders = running_state_dirs()
    if len(folders) > 1:
        listed = ", ".join(sorted(map(str, folders)))
        raise ConfigError(f"set STATE_DIR: more than one `make run` runs in this checkout ({listed})")
    if folders:
        os.environ.setdefault("STATE_DIR", str(folders.pop()))


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
    url: str = get("REDIS_URL")
    if url:
        return url
    url_file = embedded_redis_url_file()
    if url_file.exists():
        return url_file.read_text().strip()
    return "redis://127.0.0.1:6379/0"


def redis_client_options() -> dict[str, Any]:
    """Timeouts for every Redis connection: a dead Redis must fail fast, never hang."""
    return {
        "socket_connect_timeout": get("REDIS_CONNECT_TIMEOUT"),
        "socket_timeout": get("REDIS_SOCKET_TIMEOUT"),
        "health_check_interval": 30,
        "retry_on_timeout": True,
    }


#: Worker budget: small by default so a cheap PaaS plan holds it.
WORKER_PROCESSES = get("WORKER_PROCESSES")
WORKER_THREADS = get("WORKER_THREADS")
#: Wake idle consumers through Redis pub/sub on every enqueue (pipeline/wakeup.py); off = Dramatiq's plain polling.
WORKER_WAKEUP = get("WORKER_WAKEUP")
#: With wake-ups on, the slowest an idle consumer polls Redis (ms): only the safety net for a lost wake-up.
WORKER_IDLE_POLL_MS = get("WORKER_IDLE_POLL_MS")

#: Queues, and the namespace Dramatiq uses for its Redis keys.
DEFAULT_QUEUE = "default"
RENDER_QUEUE = "render"

#: The clock: a crontab (minute hour day month weekday; a sixth leading field is seconds).
SCHEDULE_CRON = get("SCHEDULE_CRON")

#: Largest attachment we store; Outlook refuses to send more than 150 MB.
MAX_ATTACHMENT_BYTES = get("MAX_ATTACHMENT_MB") * 1024 * 1024
#: Most spool files of up to MAX_ATTACHMENT_BYTES one thread holds at once (in spool_dir()): a Graph
#: forwarded message's .eml, a uuencoded part's raw and decoded copies inside it, and the attachment's
#: own spool as it is stored. Deployments size their spool folder by it (tests/deploy/test_spool.py).
SPOOL_FILES_PER_THREAD = 4

#: Most attachment rows one message gets, container members included; what is beyond is noted on the message.
MAX_ATTACHMENTS_PER_MESSAGE = get("MAX_ATTACHMENTS_PER_MESSAGE")

#: The MIME reader's limits (pipeline/sources/mime.py): a message past one is quarantined, not read on.
#: Header parsing costs more than linear time per byte, so the header bytes count for the whole message.
MIME_MAX_HEADER_BYTES = get("MIME_MAX_HEADER_KB") * 1024
MIME_MAX_HEADERS = get("MIME_MAX_HEADERS")
MIME_MAX_PARTS = get("MIME_MAX_PARTS")
MIME_MAX_DEPTH = get("MIME_MAX_DEPTH")

#: Work left pending longer than this is enqueued again by the next tick. PIPELINE_STALE_SECONDS,
#: when set, wins over PIPELINE_STALE_MINUTES (finer grain, for tests and impatient operators).
STALE_AFTER_SECONDS = get("PIPELINE_STALE_SECONDS") or get("PIPELINE_STALE_MINUTES") * 60

#: A message delivered this many times without finishing is quarantined.
MAX_DELIVERIES = get("PIPELINE_MAX_DELIVERIES")

#: Redis key prefix for the pipeline's own keys (locks, slots, heartbeats).
KEY_PREFIX = get("PIPELINE_KEY_PREFIX")


@dataclass(frozen=True)
class DeployerVariable:
    """A variable the deployer sets, because no default of ours fits production: where it runs, what it
    connects to, with which credentials. tests/deploy/test_deployer_variables.py holds app.json,
    .env.example, the k8s Secret example, the ConfigMap and the workloads to this list."""

    name: str  # a Setting, or one of LIBRARY_VARIABLES
    processes: tuple[str, ...]  # the Procfile processes that need it
    _: KW_ONLY
    secret: bool = False  # kept in the platform's secret store: never a ConfigMap or a value in the repository
    when: str = ""  # blank: every production deployment sets it; else the case that needs it
    queues: tuple[str, ...] = ()  # a worker needs it only when it consumes one of these (blank: any worker)
    alternatives: tuple[str, ...] = ()  # variables that may take its place (a certificate for a client secret)


_DJANGO = ("web", "worker", "release")
_REDIS = ("web", "worker", "scheduler")
_FILES = ("web", "worker")
#: The worker of the default queue reads the mailboxes; the web's admin tests a mailbox's connection.
_GRAPH = ("web", "worker")
_S3 = "with STORAGE_BACKEND=s3"
_GRAPH_CERTIFICATE = "instead of GRAPH_CLIENT_SECRET: the app signs in with a certificate"

#: Every variable a deployer sets, and who needs it. The rest have defaults that fit production.
DEPLOYER_VARIABLES: dict[str, DeployerVariable] = {
    variable.name: variable
    for variable in (
        DeployerVariable("SECRET_KEY", _DJANGO, secret=True),
        DeployerVariable("ALLOWED_HOSTS", ("web",)),
        DeployerVariable("CSRF_TRUSTED_ORIGINS", ("web",), when="the browser's origin is not the Host the web sees"),
        DeployerVariable(
            "TRUSTED_PROXY_COUNT", ("web",), when="proxies that append to X-Forwarded-For stand in front of the web"
        ),
        DeployerVariable("DATABASE_URL", _DJANGO, secret=True),
        DeployerVariable("REDIS_URL", _REDIS, secret=True),
        DeployerVariable("REDIS_TLS_VERIFY", _REDIS, when="a rediss:// server's certificate is self-signed (Heroku)"),
        DeployerVariable("REDIS_TLS_CA_FILE", _REDIS, when="a rediss:// server's CA is not among the system's"),
        DeployerVariable("STORAGE_BACKEND", _DJANGO, when="the web and the workers share no disk (a PaaS)"),
        DeployerVariable("AWS_STORAGE_BUCKET_NAME", _DJANGO, when=_S3),
        DeployerVariable("AWS_ACCESS_KEY_ID", _FILES, secret=True, when=_S3),
        DeployerVariable("AWS_SECRET_ACCESS_KEY", _FILES, secret=True, when=_S3),
        DeployerVariable("AWS_S3_REGION_NAME", _FILES, when=_S3),
        DeployerVariable("AWS_S3_ENDPOINT_URL", _FILES, when=f"{_S3} on an S3-compatible store"),
        DeployerVariable("GRAPH_TENANT_ID", _GRAPH, secret=True, queues=(DEFAULT_QUEUE,)),
        DeployerVariable("GRAPH_CLIENT_ID", _GRAPH, secret=True, queues=(DEFAULT_QUEUE,)),
        DeployerVariable(
            "GRAPH_CLIENT_SECRET",
            _GRAPH,
            secret=True,
            queues=(DEFAULT_QUEUE,),
            alternatives=("GRAPH_CLIENT_CERTIFICATE", "GRAPH_CLIENT_CERTIFICATE_PATH"),
        ),
        DeployerVariable(
            "GRAPH_CLIENT_CERTIFICATE", _GRAPH, secret=True, queues=(DEFAULT_QUEUE,), when=_GRAPH_CERTIFICATE
        ),
        DeployerVariable("GRAPH_CLIENT_CERTIFICATE_PATH", _GRAPH, queues=(DEFAULT_QUEUE,), when=_GRAPH_CERTIFICATE),
        DeployerVariable(
            "GRAPH_CLIENT_CERTIFICATE_THUMBPRINT", _GRAPH, queues=(DEFAULT_QUEUE,), when=_GRAPH_CERTIFICATE
        ),
        DeployerVariable("METRICS_TOKEN", ("web",), secret=True, when="/metrics is scraped"),
    )
}
