"""Every Redis client is built by pipeline/redis_clients.py, so REDIS_TLS_VERIFY and REDIS_TLS_CA_FILE reach them all.

Heroku Redis speaks TLS with a self-signed certificate, and its REDIS_URL belongs to the add-on (it is
rewritten on rotation), so certificate options written into the URL do not stay: the settings must
reach the broker, the locks, the scheduler, the heartbeats, the probes and the web alike. A scan of
the sources finds any client built elsewhere; a real web over a TLS-only Redis shows the setting at work.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import requests

from pipeline.config import BASE_DIR
from pipeline.embedded_redis import EmbeddedRedis, TlsFiles, find_redis_server
from tests.support import needs
from tests.support.processes import ProcfileProcess, free_port, wait_for
from tests.support.tls import make_certificates
from tests.unit.test_config import SOURCES

FACTORY = BASE_DIR / "pipeline" / "redis_clients.py"
#: redis-py's ways of making a client or a pool of connections.
CLIENT_MAKERS = {"Redis", "StrictRedis", "RedisCluster", "Sentinel", "ConnectionPool", "BlockingConnectionPool"}
CLIENT_MAKERS |= {"from_url", "from_pool"}
#: Classes that build a client of their own unless handed one as `client=`.
CLIENT_TAKERS = {"RedisBroker", "WakeableRedisBroker", "RedisBackend"}
#: Django caches on Redis (Django's own and django-redis): each builds its own clients from LOCATION.
REDIS_CACHES = ("django.core.cache.backends.redis", "django_redis")


def clients_built(source: str) -> list[str]:
    """Where `source` builds a Redis client, a pool, a broker with a client of its own, or a Redis cache."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in CLIENT_MAKERS:
                found.append(f"line {node.lineno}: {name}(...)")
            elif name in CLIENT_TAKERS and "client" not in {keyword.arg for keyword in node.keywords}:
                found.append(f"line {node.lineno}: {name}(...) without client=")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(REDIS_CACHES):
            found.append(f"line {node.lineno}: a Redis cache ({node.value})")
    return found


def test_the_scanner_sees_every_way_of_building_a_client():
    source = (
        "import redis\nfrom redis import Redis\n"
        "a = redis.Redis(host='h')\nb = Redis.from_url(url)\nc = redis.from_url(url)\n"
        "d = redis.StrictRedis()\ne = redis.ConnectionPool.from_url(url)\nf = RedisBroker(url=url)\n"
        "g = {'BACKEND': 'django.core.cache.backends.redis.RedisCache'}\n"
        "ok = RedisBroker(client=client)\nalso_ok = redis_clients.connect(url)\n"
    )
    lines = sorted(int(found.split(":")[0].removeprefix("line ")) for found in clients_built(source))
    assert lines == [3, 4, 5, 6, 7, 8, 9]


@pytest.mark.parametrize("path", [p for p in SOURCES if p != FACTORY], ids=lambda path: str(path.relative_to(BASE_DIR)))
def test_no_module_but_the_factory_builds_a_redis_client(path):
    assert clients_built(path.read_text()) == [], f"build it with pipeline.redis_clients.connect in {path}"


def test_the_scan_covers_every_process_that_talks_to_redis():
    scanned = {path.relative_to(BASE_DIR).as_posix() for path in SOURCES}
    for module in (
        "pipeline/broker.py",
        "pipeline/locks.py",
        "scheduler.py",
        "pipeline/heartbeat.py",
        "pipeline/sources/graph_slots.py",
        "webapp/inbox/views.py",
        "webapp/inbox/management/commands/pipeline_status.py",
        "webapp/settings.py",
        "webapp/login_throttle.py",
    ):
        assert module in scanned, module
    assert clients_built(FACTORY.read_text()) != [], "the factory itself builds one: the scan sees it"


# --- a real web over a TLS-only Redis whose certificate nothing on this machine trusts ------------------------


@pytest.fixture(scope="module")
def untrusted_certificate(tmp_path_factory) -> TlsFiles:
    try:
        find_redis_server(tls=True)
    except RuntimeError as exc:
        needs.missing("a redis-server built with TLS", install=f"apt-get install -y redis-server ({exc})")
    # Signed by a CA made here and trusted nowhere: to a client it is the same as Heroku's self-signed one.
    return make_certificates(tmp_path_factory.mktemp("certificates"), name="heroku-like")


def _web_env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    return {
        "STATE_DIR": str(tmp_path / "state"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",
        "REDIS_URL": url,
        "SECRET_KEY": "redis-tls-web-test-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DEBUG": "false",
        "HTTPS": "false",
        "REDIS_CONNECT_TIMEOUT": "2",
        "WEB_CONCURRENCY": "1",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        **extra,
    }


def _ready(env: dict[str, str], log_dir: Path) -> requests.Response:
    """/health/ready of a real web process started with `env`."""
    port = free_port()
    web = ProcfileProcess("web", dict(env, PORT=str(port)), log_dir)
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/health/live"), timeout=30, what="the web", processes=[web])
        return requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=30)
    finally:
        assert web.stop() == 0, web.log()[-3000:]


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.slow
def test_the_web_is_ready_over_tls_with_the_certificate_check_off(tmp_path, untrusted_certificate):
    with EmbeddedRedis.start(tmp_path / "redis", tls=untrusted_certificate, appendonly=False) as server:
        assert server.url.startswith("rediss://")

        checked = _ready(_web_env(tmp_path, server.url), tmp_path)
        assert checked.status_code == 503, "the certificate is checked by default, and refused"
        assert checked.json()["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}

        unchecked = _ready(_web_env(tmp_path, server.url, REDIS_TLS_VERIFY="false"), tmp_path)
        assert unchecked.status_code == 200, unchecked.text
        assert unchecked.json()["checks"]["redis"]["ok"] is True
