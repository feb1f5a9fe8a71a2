"""The web in a pod: HOME (/app) is read-only there, so gunicorn must keep nothing of its own in it.

gunicorn 25+ opens a control socket at $HOME/.gunicorn/gunicorn.ctl unless told otherwise;
gunicorn.conf.py puts it in the state folder (STATE_DIR, an emptyDir in every pod) instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.support.processes import ProcfileProcess, free_port, run_procfile_once, wait_for

pytestmark = [pytest.mark.slow]


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_the_web_starts_with_an_unwritable_home_and_its_control_socket_in_the_state_folder(tmp_path, redis_url):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # nothing can be made under a regular file, not even by root
    state = tmp_path / "state"
    port = free_port()
    env = {
        "STATE_DIR": str(state),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "web-home-test-secret-key-0123456789-abcdefghijklmnop",
        "DEBUG": "false",
        "HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PATH": "/usr/bin:/bin",
        "HOME": str(blocker / "app"),
        "PORT": str(port),
    }
    run_procfile_once("release", env)
    web = ProcfileProcess("web", env, tmp_path)
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/health/live"), timeout=30, processes=[web])
        wait_for(lambda: (state / "gunicorn.ctl").exists(), timeout=10, what="the control socket", processes=[web])
    finally:
        assert web.stop() == 0, web.log()[-3000:]
    lines = [json.loads(line) for line in web.log().splitlines() if line.startswith("{")]
    complaints = [line["message"] for line in lines if line["level"].lower() not in ("debug", "info")]
    assert complaints == [], "no control-socket error, nor any other"
    assert f"Control socket listening at {state / 'gunicorn.ctl'}" in [line["message"] for line in lines]
    assert not Path(env["HOME"]).exists()
