"""The Procfile's real processes under the platforms' environments (issue 22, items 4 and 5).

- compose's web, with compose's own DEBUG/HTTPS/ALLOWED_HOSTS, answers plain http on localhost and
  logs in there (no redirect to an https nothing serves, no Secure-only cookie);
- on Railway the web answers its health check's host on /health/ only, and off Railway not at all;
- where the disk does not last (Heroku's dynos, Railway without a volume) local storage stops the
  web's settings and the worker in one line that says to set STORAGE_BACKEND=s3, unless forced.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from pipeline import heartbeat
from pipeline.config import BASE_DIR, RAILWAY_HEALTHCHECK_HOST
from tests.deploy.test_paas import SERVICES, compose_value
from tests.support.processes import ProcfileProcess, free_port, run_procfile_once, wait_for
from tests.support.web import admin_session

pytestmark = [pytest.mark.slow]

PASSWORD = "paas-Secret-pass-42"
#: What Railway sets in every deployment (docs.railway.com: Variables, "Railway-provided variables").
RAILWAY = {
    "RAILWAY_PROJECT_ID": "0b5e6c1e-4a0c-4d8e-9a51-6f2d8b7c9e10",
    "RAILWAY_ENVIRONMENT_NAME": "production",
    "RAILWAY_PUBLIC_DOMAIN": "invoicemail-production.up.railway.app",
}
#: Storage as a platform without a lasting disk needs it (nothing here reaches the bucket).
ON_S3 = {"STORAGE_BACKEND": "s3", "AWS_STORAGE_BUCKET_NAME": "invoicemail"}
#: The one line both the settings and the worker stop with: what would happen, and what to set.
STORAGE_LOSS = "STORAGE_BACKEND=local would lose every stored attachment"
STORAGE_REFUSAL = "set STORAGE_BACKEND=s3"


def base_env(tmp_path, redis_url: str, **extra: str) -> dict[str, str]:
    """A production process's environment: DEBUG off, a real key, SQLite in place of PostgreSQL."""
    return {
        "STATE_DIR": str(tmp_path / "state"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "paas-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        **extra,
    }


def compose_app_env() -> dict[str, str]:
    """DEBUG, HTTPS and ALLOWED_HOSTS as docker-compose.yml gives them to the web, with nothing else set."""
    env = SERVICES["web"]["environment"]
    return {name: compose_value(env[name]) for name in ("DEBUG", "HTTPS", "ALLOWED_HOSTS") if name in env}


def start_web(tmp_path, env: dict[str, str]) -> tuple[ProcfileProcess, int]:
    port = free_port()
    web = ProcfileProcess("web", dict(env, PORT=str(port), WEB_BIND="127.0.0.1"), tmp_path)
    wait_for(lambda: _answers(port), timeout=60, what="the web to listen", processes=[web])
    return web, port


def _answers(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/health/live", timeout=2)
    except requests.RequestException:
        return False
    return True


def create_admin(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "admin", "--email", "a@b.cl"],
        env=dict(env, DJANGO_SUPERUSER_PASSWORD=PASSWORD),
        cwd=BASE_DIR,
        check=True,
        capture_output=True,
    )


def test_compose_web_serves_and_logs_in_over_plain_http_on_localhost(tmp_path, redis_url):
    env = base_env(tmp_path, redis_url, **compose_app_env())
    run_procfile_once("release", env)
    create_admin(env)
    web, port = start_web(tmp_path, env)
    try:
        base_url = f"http://localhost:{port}"
        login_page = requests.get(f"{base_url}/admin/login/", timeout=10, allow_redirects=False)
        assert login_page.status_code == 200, f"{login_page.status_code} to {login_page.headers.get('Location')}"
        session = admin_session(base_url, password=PASSWORD)  # a Secure-only CSRF cookie is never sent back: 403
        (cookie,) = [cookie for cookie in session.cookies if cookie.name == "sessionid"]
        assert not cookie.secure, "the browser would not send the session back over http"
        admin = session.get(f"{base_url}/admin/", timeout=10, allow_redirects=False)
        assert admin.status_code == 200, "logged in"
    finally:
        assert web.stop() == 0, web.log()[-3000:]


@pytest.mark.parametrize("on_railway", [True, False], ids=["on Railway", "off Railway"])
def test_the_health_check_host_reaches_the_health_paths_on_railway_only(tmp_path, redis_url, on_railway):
    railway = RAILWAY if on_railway else {}
    env = base_env(tmp_path, redis_url, ALLOWED_HOSTS="invoices.example.com", **ON_S3, **railway)
    run_procfile_once("release", env)
    web, port = start_web(tmp_path, env)
    try:

        def get(path: str, host: str) -> requests.Response:
            return requests.get(
                f"http://127.0.0.1:{port}{path}", headers={"Host": host}, timeout=10, allow_redirects=False
            )

        ready = get("/health/ready", RAILWAY_HEALTHCHECK_HOST)
        assert ready.status_code == (200 if on_railway else 400), ready.text[:300]
        assert get("/admin/login/", RAILWAY_HEALTHCHECK_HOST).status_code == 400, "health paths only"
        public = get("/health/ready", RAILWAY["RAILWAY_PUBLIC_DOMAIN"])
        assert public.status_code == (200 if on_railway else 400)
        assert get("/health/ready", "invoices.example.com").status_code == 200
    finally:
        assert web.stop() == 0, web.log()[-3000:]


#: Platforms whose disk does not last, as the platform's own variables say.
EPHEMERAL = {
    "Heroku": {"DYNO": "web.1"},
    "Railway without a volume": dict(RAILWAY),
}


def manage_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("platform", EPHEMERAL.values(), ids=EPHEMERAL.keys())
def test_local_storage_on_an_ephemeral_disk_stops_the_settings_in_one_line_unless_forced(tmp_path, platform):
    env = base_env(tmp_path, "redis://127.0.0.1:1/0", **platform)
    refused = manage_check(env)
    assert refused.returncode != 0
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: {STORAGE_LOSS}") and STORAGE_REFUSAL in line
    forced = manage_check(dict(env, ALLOW_EPHEMERAL_STORAGE="true"))
    assert forced.returncode == 0, forced.stderr
    on_s3 = manage_check(dict(env, **ON_S3))
    assert on_s3.returncode == 0, on_s3.stderr


def test_railway_refuses_local_storage_on_a_volume_too(tmp_path):
    """A Railway volume belongs to one service: the web could not serve what the worker stored on it."""
    env = base_env(tmp_path, "redis://127.0.0.1:1/0", **RAILWAY, RAILWAY_VOLUME_MOUNT_PATH=str(tmp_path))
    refused = manage_check(env)
    assert refused.returncode != 0 and "a volume belongs to one service only" in refused.stderr


def test_the_worker_on_a_dyno_with_local_storage_stops_with_the_same_line_unless_forced(
    tmp_path, redis_url, redis_client
):
    env = base_env(tmp_path, redis_url, DYNO="worker.1")
    refused = ProcfileProcess("worker", env, tmp_path)
    try:
        wait_for(lambda: not refused.alive(), timeout=60, what="the worker to refuse to start")
    finally:
        refused.stop()
    assert refused.process.returncode != 0
    assert STORAGE_LOSS in refused.log() and STORAGE_REFUSAL in refused.log()
    forced = ProcfileProcess("worker", dict(env, ALLOW_EPHEMERAL_STORAGE="true"), tmp_path)
    try:
        wait_for(
            lambda: heartbeat.check("worker", max_age=60, client=redis_client)[0] == heartbeat.OK,
            timeout=60,
            what="the forced worker's heartbeat",
            processes=[forced],
        )
    finally:
        assert forced.stop() == 0, forced.log()[-3000:]
