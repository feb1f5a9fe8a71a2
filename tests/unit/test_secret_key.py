"""With DEBUG off, a short, placeholder or published SECRET_KEY stops every process that loads the
settings: `check --deploy` fails in one line, and the web does not start (issue 21, Low 5)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
import requests

from pipeline import config
from pipeline.config import BASE_DIR
from tests.support.processes import ProcfileProcess, free_port, wait_for

#: Keys that reached deploys, or could: compose's old default, the Kubernetes example's, Django's own
#: development prefix, a short one, and one of few characters.
WEAK_KEYS = {
    "compose's old default": "change-me-in-production-please-0123456789",
    "the Kubernetes example": "CHANGE-ME",
    "a Django development key": "django-insecure-" + secrets.token_urlsafe(50),
    "a short one": secrets.token_urlsafe(24),
    "few characters": "ab" * 40,
}


def _production_env(tmp_path, **env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "HTTPS", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    return {**clean, "DJANGO_SETTINGS_MODULE": "webapp.settings", "STATE_DIR": str(tmp_path), **env}


@pytest.mark.parametrize("key", WEAK_KEYS.values(), ids=WEAK_KEYS.keys())
def test_check_deploy_refuses_a_weak_key_in_one_line_that_does_not_show_it(tmp_path, key):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        env=_production_env(tmp_path, SECRET_KEY=key),
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: SECRET_KEY ") and result.stderr.count("\n") == 1, result.stderr
    assert key not in result.stderr


def test_a_weak_key_is_fine_with_debug_on(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        env=_production_env(tmp_path, SECRET_KEY="CHANGE-ME", DEBUG="true"),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_every_key_our_tests_and_make_run_use_is_accepted():
    assert config.secret_key_weakness(secrets.token_urlsafe(48)) is None  # webapp/run_local.py's local.env
    assert config.secret_key_weakness(os.environ["SECRET_KEY"]) is None  # tests/settings.py's


def test_the_web_does_not_start_with_a_placeholder_key(tmp_path):
    port = free_port()
    env = _production_env(tmp_path, SECRET_KEY=WEAK_KEYS["compose's old default"], PORT=str(port), HTTPS="false")
    web = ProcfileProcess("web", env, tmp_path)
    try:
        wait_for(lambda: not web.alive(), timeout=60, what="the web to give up")
    finally:
        code = web.stop()
    log = web.log()
    assert code == 2, log[-3000:]
    assert "not starting: SECRET_KEY is a placeholder (it contains 'change-me')" in log, log[-3000:]
    assert "Traceback" not in log and "Booting worker" not in log, "refused before any worker starts"
    assert WEAK_KEYS["compose's old default"] not in log
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/health/live", timeout=2)
