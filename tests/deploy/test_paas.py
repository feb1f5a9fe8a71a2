"""docker-compose.yml, Heroku (app.json + Procfile) and Railway (railway.json) run the Procfile's processes.

Compose and Railway start each process through bin/procfile, which runs the Procfile's line, so
the test checks that every process is started that way, and that bin/procfile runs exactly the line.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from django.urls import resolve

from pipeline.config import BASE_DIR
from tests.support import needs
from tests.support.processes import AS_PID_1, need_pid_1, procfile_commands

COMPOSE = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_JSON = json.loads((BASE_DIR / "app.json").read_text())
RAILWAY = {
    "web": BASE_DIR / "railway.json",
    "worker": BASE_DIR / "deploy/railway/worker.json",
    "scheduler": BASE_DIR / "deploy/railway/scheduler.json",
}
#: Long-running processes (the release runs once, before each deploy).
RUNNING = sorted(set(procfile_commands()) - {"release"})


def test_every_procfile_process_is_a_compose_service_that_runs_its_line():
    for name in procfile_commands():
        assert SERVICES[name]["command"] == ["bin/procfile", name], name
        assert SERVICES[name]["image"] == "invoice-mail" and SERVICES[name]["build"] == "."


def test_compose_wires_postgres_redis_with_aof_and_the_shared_media_volume():
    assert "--appendonly" in SERVICES["redis"]["command"]
    for name in procfile_commands():
        env = SERVICES[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379/")
        assert env["STATE_DIR"] == "/app/var" and "media:/app/var" in SERVICES[name]["volumes"]
        assert "LOG_FORMAT" not in env, "the Procfile's default (json) applies"
    for name in ("web", "worker"):
        assert SERVICES[name]["depends_on"]["release"] == {"condition": "service_completed_successfully"}
    grace = int(SERVICES["worker"]["stop_grace_period"].rstrip("s"))
    assert grace * 1000 > int(os.environ.get("WORKER_SHUTDOWN_TIMEOUT_MS", "25000")), (
        "the worker finishes before it is killed"
    )


def test_heroku_runs_every_process_of_the_procfile_with_what_it_needs():
    assert set(APP_JSON["formation"]) == set(RUNNING)
    assert "release" in procfile_commands(), "Heroku migrates in the release phase"
    plans = {addon["plan"].split(":")[0] for addon in APP_JSON["addons"]}
    assert plans == {"heroku-postgresql", "heroku-redis"}
    env = APP_JSON["env"]
    assert env["STORAGE_BACKEND"]["value"] == "s3", "dynos share no disk"
    assert {"AWS_STORAGE_BUCKET_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env)
    assert env["SECRET_KEY"]["generator"] == "secret"
    requirements = [
        line for line in (BASE_DIR / "requirements.txt").read_text().splitlines() if not line.startswith("#")
    ]
    assert requirements == ["-r requirements.lock"], "the buildpack installs the locked versions"


@pytest.mark.parametrize("name", RUNNING)
def test_railway_starts_each_process_through_its_procfile_line(name):
    config = json.loads(RAILWAY[name].read_text())
    assert config["build"] == {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}
    assert config["deploy"]["startCommand"] == f"bin/procfile {name}"
    assert config["deploy"]["drainingSeconds"] * 1000 > 25000
    if name == "web":
        assert config["deploy"]["preDeployCommand"] == ["bin/procfile release"]
        assert resolve(config["deploy"]["healthcheckPath"]).url_name == "health_ready"


def test_the_dockerfile_runs_the_web_through_bin_procfile_as_a_non_root_user():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    assert 'CMD ["bin/procfile", "web"]' in dockerfile
    assert "USER app" in dockerfile and "collectstatic" in dockerfile
    assert "COPY bin ./bin" in dockerfile and "gunicorn.conf.py" in dockerfile


def test_bin_procfile_runs_exactly_the_procfile_line(tmp_path):
    stub = tmp_path / "env"  # the Procfile's lines start with `env`: print the words it was given
    stub.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    stub.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}", WORKER_THREADS="3")
    env.pop("LOG_FORMAT", None)
    result = subprocess.run(
        [str(BASE_DIR / "bin/procfile"), "worker"], env=env, capture_output=True, text=True, timeout=30, check=True
    )
    words = result.stdout.split()
    assert words[:2] == ["LOG_FORMAT=json", "dramatiq_queue_prefetch=3"]
    assert words[2:4] == ["dramatiq", "pipeline.actors"] and "--threads" in words
    missing = subprocess.run([str(BASE_DIR / "bin/procfile"), "nosuch"], capture_output=True, text=True, timeout=30)
    assert missing.returncode == 64 and "no process 'nosuch'" in missing.stderr


def dockerfile_entrypoint() -> list[str]:
    """The Dockerfile's ENTRYPOINT, in exec form."""
    lines = [line for line in (BASE_DIR / "Dockerfile").read_text().splitlines() if line.startswith("ENTRYPOINT ")]
    assert len(lines) == 1, lines
    return json.loads(lines[0].removeprefix("ENTRYPOINT "))


def test_the_image_runs_its_processes_under_tini_from_debian():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    assert "apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*" in dockerfile
    entrypoint = dockerfile_entrypoint()
    assert entrypoint[0] == "/usr/bin/tini" and entrypoint[-1] == "--", "CMD (bin/procfile ...) is tini's child"
    assert "-s" in entrypoint, "under another init tini reaps as a subreaper, without a warning"
    assert 'CMD ["bin/procfile", "web"]' in dockerfile


def test_compose_runs_every_app_service_under_an_init():
    for name in procfile_commands():
        assert SERVICES[name]["init"] is True, name


def _tini(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def test_the_entrypoint_warns_of_nothing_as_pid_1_under_another_init_or_under_none():
    entrypoint = dockerfile_entrypoint()
    if not Path(entrypoint[0]).exists():
        needs.missing(entrypoint[0], install="apt-get install -y tini")
    need_pid_1()
    child = ["sh", "-c", 'echo "$$"; exit 3']
    runs = {
        "as PID 1 (docker run)": _tini(*AS_PID_1, *entrypoint, *child),
        "under docker-init (compose init: true)": _tini(*AS_PID_1, "/usr/bin/tini", "--", *entrypoint, *child),
        "under no init at all": _tini(*entrypoint, *child),
    }
    for where, run in runs.items():
        assert (run.returncode, run.stderr) == (3, ""), f"{where}: {run.stderr}"
    assert runs["as PID 1 (docker run)"].stdout.strip() == "2", "the Procfile process is tini's child"
