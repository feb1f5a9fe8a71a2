"""docker-compose.yml, Heroku (app.json + Procfile) and Railway (railway.json) run the Procfile's processes.

Compose and Railway start each process through bin/procfile, which runs the Procfile's line, so
the test checks that every process is started that way, and that bin/procfile runs exactly the line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.urls import resolve

from pipeline.config import BASE_DIR, SETTINGS
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
    waits = "--after-migrations " if name == "worker" else ""  # only the web migrates (see below)
    # Railway's start command replaces the image's ENTRYPOINT: it names tini itself, as the Dockerfile does.
    assert config["deploy"]["startCommand"] == f"{' '.join(dockerfile_entrypoint())} bin/procfile {waits}{name}"
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
    assert words[2:4] == ["bin/dramatiq", "pipeline.actors"] and "--threads" in words
    for words in (["nosuch"], ["--after-migrations", "nosuch"]):  # said at once, before any wait
        missing = subprocess.run([str(BASE_DIR / "bin/procfile"), *words], capture_output=True, text=True, timeout=30)
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


# --- compose serves plain http, restarts what runs, and lets each process finish (issue 22, item 4) ---------

#: Long-running services: brought back after a crash or a reboot, unless someone stopped them.
RESTARTED = ("unless-stopped", "always")
#: Compose's own stop_grace_period when a service sets none.
COMPOSE_DEFAULT_GRACE = 10


def compose_value(raw: str) -> str:
    """A compose environment value as `docker compose` reads it with nothing set: `${NAME:-default}` is default."""
    match = re.fullmatch(r"\$\{[A-Za-z_]\w*(?::?-([^}]*))?\}", raw)
    if match is None:
        return raw
    return match.group(1) or ""


def compose_seconds(duration: str) -> float:
    """A compose duration (30s, 1m30s, 1500ms) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a compose duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def gunicorn_graceful_timeout() -> int:
    """The web's --graceful-timeout, read from the Procfile's web line."""
    match = re.search(r"--graceful-timeout[= ](\d+)", procfile_commands()["web"])
    assert match, "the Procfile's web line sets --graceful-timeout"
    return int(match.group(1))


def test_compose_serves_plain_http_on_localhost_until_told_it_is_behind_tls():
    for name in procfile_commands():
        env = SERVICES[name]["environment"]
        assert compose_value(env["HTTPS"]).lower() == "false", f"{name}: DEBUG is off, so HTTPS would default on"
        assert "localhost" in compose_value(env["ALLOWED_HOSTS"]).split(",")
    text = (BASE_DIR / "docker-compose.yml").read_text()
    assert re.search(r"#.*TLS proxy.*\n(?:\s*#.*\n)*\s*HTTPS: ", text), "a comment says when to turn HTTPS on"


def test_compose_restarts_every_long_running_service_and_runs_the_release_once():
    for name in [*RUNNING, "redis", "postgres"]:
        assert SERVICES[name].get("restart") in RESTARTED, f"{name} stays down after a crash or a reboot"
    assert SERVICES["release"]["restart"] == "no", "the migration runs once per `up`"


def test_compose_gives_each_process_longer_to_stop_than_its_own_grace():
    graceful = gunicorn_graceful_timeout()
    assert compose_seconds(SERVICES["web"]["stop_grace_period"]) > graceful, "gunicorn is killed mid-request"
    worker_grace_ms = int(os.environ.get("WORKER_SHUTDOWN_TIMEOUT_MS", SETTINGS["WORKER_SHUTDOWN_TIMEOUT_MS"].default))
    assert compose_seconds(SERVICES["worker"]["stop_grace_period"]) * 1000 > worker_grace_ms
    assert compose_seconds(SERVICES["scheduler"]["stop_grace_period"]) > COMPOSE_DEFAULT_GRACE


def test_compose_starts_no_long_running_process_before_the_release_migrated():
    for name in RUNNING:
        assert SERVICES[name]["depends_on"]["release"] == {"condition": "service_completed_successfully"}, name
    assert SERVICES["scheduler"]["depends_on"]["redis"] == {"condition": "service_healthy"}


# --- Railway: only the web migrates; the worker and the scheduler wait for its schema (item 5) ---------------


def test_railway_migrates_in_the_web_only_and_the_worker_waits_for_the_schema_when_it_starts():
    """Not in a pre-deploy command: Railway gives one a slot of the build queue, which a wait would hold.

    The scheduler reads no table and loads no Django: what it sends is done by a worker that waited.
    """
    configs = {name: json.loads(path.read_text())["deploy"] for name, path in RAILWAY.items()}
    assert configs["web"]["preDeployCommand"] == ["bin/procfile release"]
    for name in ("worker", "scheduler"):
        assert "preDeployCommand" not in configs[name], f"{name} must not migrate, nor wait in the build queue"
        assert configs[name]["restartPolicyType"] == "ALWAYS", "a wait that timed out starts again, with no last try"
    assert configs["worker"]["startCommand"].endswith(" bin/procfile --after-migrations worker")
    scheduler = (BASE_DIR / "scheduler.py").read_text()
    assert "django.setup" not in scheduler and "DJANGO_SETTINGS_MODULE" not in scheduler, "it would need the schema"


def _procfile_with_stub_env(tmp_path: Path, database: Path) -> subprocess.Popen:
    stub = tmp_path / "stub"
    stub.mkdir(exist_ok=True)
    (stub / "env").write_text('#!/bin/sh\nprintf "started %s\\n" "$*"\n')
    (stub / "env").chmod(0o755)
    path = os.pathsep.join([str(stub), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = dict(os.environ, PATH=path, DATABASE_URL=f"sqlite:///{database}", DEBUG="true", STATE_DIR=str(tmp_path))
    return subprocess.Popen(
        [str(BASE_DIR / "bin/procfile"), "--after-migrations", "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_after_migrations_starts_the_line_only_once_the_schema_is_current(tmp_path):
    database = tmp_path / "db.sqlite3"
    waiting = _procfile_with_stub_env(tmp_path, database)
    try:
        assert waiting.stdout is not None
        first = waiting.stdout.readline()
        assert "waiting for the database" in first, first
        assert waiting.poll() is None, "it waits rather than starting the worker on an empty schema"
    finally:
        waiting.kill()
        waiting.wait(30)
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{database}", DEBUG="true", STATE_DIR=str(tmp_path))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    current = _procfile_with_stub_env(tmp_path, database)
    output, _ = current.communicate(timeout=120)
    assert current.returncode == 0, output
    assert "schema is current" in output and "started LOG_FORMAT=json" in output, output


# --- the README's Railway variables and first admin (items 5 and 9) ------------------------------------------


def _readme_section(title: str) -> str:
    return (BASE_DIR / "README.md").read_text().split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_the_readme_lists_the_shared_variables_railway_needs_in_its_reference_syntax():
    section = _readme_section("Deploying on Railway or Heroku")
    for needed in (
        "`DATABASE_URL=${{Postgres.DATABASE_URL}}`",
        "`REDIS_URL=${{Redis.REDIS_URL}}`",
        "`SECRET_KEY`",
        "`STORAGE_BACKEND=s3`",
        "`AWS_STORAGE_BUCKET_NAME`",
        "`AWS_ACCESS_KEY_ID`",
        "`AWS_SECRET_ACCESS_KEY`",
        "`ALLOWED_HOSTS`",
    ):
        assert needed in section, needed
    assert "add `healthcheck.railway.app` to `ALLOWED_HOSTS`" not in section, "the settings allow it by themselves"


def test_the_readme_says_how_to_make_the_first_admin_on_every_platform():
    section = _readme_section("Deploying on Railway or Heroku")
    for command in (
        "heroku run python manage.py createsuperuser",
        "railway ssh --service web",
        "DJANGO_SUPERUSER_USERNAME",
        "docker compose run --rm release python manage.py createsuperuser",
        "kubectl -n invoicemail exec -it deploy/web -- python manage.py createsuperuser",
    ):
        assert command in section, command
