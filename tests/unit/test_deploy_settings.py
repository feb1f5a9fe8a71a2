"""Production settings (DEBUG off) pass Django's deployment checks with no warning."""

import os
import subprocess
import sys

from pipeline.config import BASE_DIR


def run_manage(*args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "HTTPS", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        env={**clean, "DJANGO_SETTINGS_MODULE": "webapp.settings", **env},
        timeout=60,
    )


def test_check_deploy_passes_without_warnings(tmp_path):
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="x" * 30 + "-production-like-secret-key-0123456789",
        STATE_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_secret_key_is_required_when_debug_is_off(tmp_path):
    result = run_manage("check", STATE_DIR=str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("error: set SECRET_KEY (required when DEBUG is off)")


def test_an_unclear_boolean_stops_the_process(tmp_path):
    result = run_manage("check", DEBUG="maybe", STATE_DIR=str(tmp_path))
    assert result.returncode != 0 and "DEBUG='maybe' is not a boolean" in result.stderr


def test_the_embedded_sqlite_keeps_its_connections_as_postgresql_does(tmp_path):
    """Opening a SQLite connection costs about 1 ms of CPU: the worker closed one after every message."""
    show = "from django.conf import settings; d = settings.DATABASES['default']; print(d['CONN_MAX_AGE'], d['ENGINE'])"
    secret = "x" * 30 + "-production-like-secret-key-0123456789"
    for extra, expected in (({}, "60"), ({"DB_CONN_MAX_AGE": "0"}, "0")):
        result = run_manage("shell", "--no-imports", "-c", show, SECRET_KEY=secret, STATE_DIR=str(tmp_path), **extra)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [expected, "django.db.backends.sqlite3"]
