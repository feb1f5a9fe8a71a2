"""A management command typed in a second terminal, beside `make run` or without it.

With STATE_DIR unset it works on the state folder of the `make run` running in this checkout,
whatever STATE_DIR that one was given; pointed at a folder no `make run` made, or given a value it
cannot use, it says in one line what to set and exits 2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import config
from pipeline.config import BASE_DIR
from tests.support.processes import free_port, manage, wait_for

pytestmark = [pytest.mark.slow]

#: What `make run` or the test run set, which a second terminal does not have.
NOT_IN_A_SECOND_TERMINAL = {
    "STATE_DIR",
    "REDIS_URL",
    "DATABASE_URL",
    "SECRET_KEY",
    "DEBUG",
    "HTTPS",
    "DJANGO_SETTINGS_MODULE",
    "PORT",
}


def terminal_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_IN_A_SECOND_TERMINAL}
    return dict(env, HOME=str(tmp_path), **extra)


def test_a_state_folder_no_make_run_made_is_one_line_saying_what_to_set(tmp_path):
    fresh = tmp_path / "elsewhere"
    for command in ("fetch_mail", "pipeline_status"):
        result = manage(terminal_env(tmp_path, STATE_DIR=str(fresh)), command, check=False)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [
            "error: set SECRET_KEY (required when DEBUG is off), or STATE_DIR to the state folder of a `make run`"
            f" ({fresh} has no local.env)"
        ]
    unclear = manage(terminal_env(tmp_path, STATE_DIR=str(fresh), DEBUG="maybe"), "pipeline_status", check=False)
    assert (unclear.returncode, unclear.stderr) == (2, "error: DEBUG='maybe' is not a boolean; use true or false\n")
    empty = manage(terminal_env(tmp_path, STATE_DIR=str(fresh), DEBUG="true"), "fetch_mail", check=False)
    assert empty.returncode == 2 and len(empty.stderr.splitlines()) == 1, empty.stderr
    assert empty.stderr.startswith("error: set STATE_DIR to the state folder of a `make run`, or DATABASE_URL")


def test_a_stopped_make_runs_redis_is_one_line_saying_what_to_start(tmp_path):
    state = tmp_path / "state"
    env = terminal_env(tmp_path, STATE_DIR=str(state))
    state.mkdir()
    (state / "local.env").write_text("DEBUG=true\nSECRET_KEY=second-terminal-test-key-0123456789abcdef\n")
    assert manage(env, "migrate", "--noinput", "--verbosity", "0", check=False).returncode == 0
    (tmp_path / "mail").mkdir()
    assert manage(env, "add_mailbox", "demo", "--folder", str(tmp_path / "mail"), check=False).returncode == 0
    (state / "redis").mkdir()
    (state / "redis" / "url").write_text(f"redis://127.0.0.1:{free_port()}/0\n")  # its Redis is gone
    result = manage(env, "fetch_mail", check=False)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"error: set REDIS_URL, or start `make run` with STATE_DIR={state}")


def test_a_command_without_state_dir_finds_the_make_run_of_this_checkout(tmp_path):
    state = tmp_path / "state of make run"
    log = tmp_path / "make-run.log"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "webapp.run_local"],
        env=terminal_env(tmp_path, STATE_DIR=str(state), PORT=str(free_port()), SCHEDULER_TICK_ON_START="true"),
        cwd=BASE_DIR,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: "Open http://" in log.read_text(), timeout=120, what="make run's set-up")
        marker = config.running_markers_dir() / str(launcher.pid)
        assert marker.read_text().strip() == str(state)

        def status() -> dict | None:
            result = manage(terminal_env(tmp_path), "pipeline_status", "--json", check=False)
            assert result.returncode == 0, result.stderr
            report = json.loads(result.stdout)
            return report if report["recent_runs"] and report["redis"]["ok"] else None

        report = wait_for(status, timeout=120, interval=1, what="make run's demo run, seen from a second terminal")
        assert report["recent_runs"][0]["mailbox"] == "demo"
        assert report["scheduler"]["last_tick"]
    finally:
        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C in make run's terminal
        launcher.wait(timeout=60)
    assert "Redis stopped." in log.read_text()  # make run's status after a Ctrl-C is 130: the log says it stopped
    assert not marker.exists(), "a stopped make run is no longer followed"


def test_a_marker_of_a_make_run_that_died_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "running_markers_dir", lambda: tmp_path / "make-run")
    (tmp_path / "alive").mkdir()
    config.announce_running_state_dir(tmp_path / "alive")
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / "make-run" / str(gone.pid)).write_text(f"{tmp_path}\n")
    assert config.running_state_dirs() == {tmp_path / "alive"}
