"""rediss:// against a real TLS-only Redis, with a CA and a server certificate made here.

The Procfile's worker and scheduler read a mailbox over it (broker, wake-ups, the mailbox lock,
heartbeats), and the liveness probe and pipeline_status read it too, with the certificate checked
against REDIS_TLS_CA_FILE. A server certificate from another CA is refused, by default and with our
CA given, in one line that says what to set; REDIS_TLS_VERIFY=false is the explicit way round it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from pipeline import samples
from pipeline.config import BASE_DIR
from pipeline.embedded_redis import EmbeddedRedis, TlsFiles, find_redis_server
from pipeline.redis_clients import CERTIFICATE_HINT
from tests.support import needs
from tests.support.database import attached_database
from tests.support.migrated import migrated_sqlite
from tests.support.processes import ProcfileProcess, wait_for
from tests.support.tls import make_certificates
from webapp.documents.models import Document
from webapp.inbox.models import Attachment, FetchRun

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, TlsFiles]:
    try:
        find_redis_server(tls=True)
    except RuntimeError as exc:
        needs.missing("a redis-server built with TLS", install=f"apt-get install -y redis-server ({exc})")
    folder = tmp_path_factory.mktemp("certificates")
    return {"ours": make_certificates(folder, name="ours"), "other": make_certificates(folder, name="other")}


def _env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    return {
        "STATE_DIR": str(tmp_path / "state"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'stack.sqlite3'}",
        "REDIS_URL": url,
        "SECRET_KEY": "tls-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DEBUG": "false",
        "HTTPS": "false",
        "SCHEDULER_TICK_ON_START": "true",
        "REDIS_CONNECT_TIMEOUT": "2",
        "WORKER_SHUTDOWN_TIMEOUT_MS": "5000",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        **extra,
    }


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=120, check=False
    )


def test_worker_scheduler_probe_and_status_work_over_tls_with_the_ca_given(tmp_path, certificates, django_db_blocker):
    ours = certificates["ours"]
    with EmbeddedRedis.start(tmp_path / "redis", tls=ours, appendonly=False) as server:
        assert server.url.startswith("rediss://")
        with pytest.raises(redis.ConnectionError):  # TLS only: no plain port to fall back to
            redis.Redis(port=server.port, socket_timeout=2, socket_connect_timeout=2).ping()
        env = _env(tmp_path, server.url, REDIS_TLS_CA_FILE=str(ours.ca))
        env["DATABASE_URL"] = migrated_sqlite(tmp_path / "stack.sqlite3", env)
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        (inbox / "01.eml").write_bytes(samples.supplier_email(folio=4242))
        added = _run(env, "manage.py", "add_mailbox", "suppliers", "--folder", str(inbox))
        assert added.returncode == 0, added.stderr
        logs = tmp_path / "logs"
        logs.mkdir()
        with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
            processes = [ProcfileProcess("worker", env, logs), ProcfileProcess("scheduler", env, logs)]
            try:
                run = wait_for(
                    lambda: FetchRun.objects.using(db).filter(status=FetchRun.Status.COMPLETED).first(),
                    timeout=60,
                    what="a run over TLS",
                    processes=processes,
                )
                wait_for(
                    lambda: not Attachment.objects.using(db).filter(preview_status="pending").exists(),
                    timeout=60,
                    what="previews over TLS",
                    processes=processes,
                )
                assert (run.messages_new, run.attachments_failed) == (1, 0)
                assert Document.objects.using(db).exists(), "the render queue read the DTE over TLS"
                wait_for(
                    lambda: _run(env, "-m", "pipeline.heartbeat", "worker").returncode == 0,
                    timeout=30,
                    what="a fresh worker heartbeat, read over TLS",
                    processes=processes,
                )
                probe = _run(env, "-m", "pipeline.heartbeat", "scheduler")
                assert probe.returncode == 0, probe.stderr
                status = _run(env, "manage.py", "pipeline_status", "--json")
                assert status.returncode == 0, status.stderr
                report = json.loads(status.stdout)
                assert report["redis"] == {"ok": True, "error": ""}
                assert report["scheduler"]["alive"] and report["scheduler"]["last_tick"]
            finally:
                for process in processes:
                    assert process.stop() == 0, process.log()[-3000:]
            assert "CERTIFICATE" not in processes[0].log() + processes[1].log()


def test_a_server_certificate_from_another_ca_is_refused_in_one_line(tmp_path, certificates):
    ours, other = certificates["ours"], certificates["other"]
    with EmbeddedRedis.start(tmp_path / "redis", tls=other, appendonly=False) as server:
        for env in (
            _env(tmp_path, server.url, REDIS_TLS_CA_FILE=str(ours.ca)),
            _env(tmp_path, server.url),  # checked by default, against the system's CAs
        ):
            probe = _run(env, "-m", "pipeline.heartbeat", "worker")
            assert probe.returncode == 2
            assert len(probe.stderr.strip().splitlines()) == 1, probe.stderr
            assert "CERTIFICATE_VERIFY_FAILED" in probe.stderr and CERTIFICATE_HINT in probe.stderr

        env = _env(tmp_path, server.url, REDIS_TLS_CA_FILE=str(ours.ca))
        env["DATABASE_URL"] = migrated_sqlite(tmp_path / "stack.sqlite3", env)
        (tmp_path / "inbox").mkdir()
        assert _run(env, "manage.py", "add_mailbox", "suppliers", "--folder", str(tmp_path / "inbox")).returncode == 0
        sent = _run(env, "manage.py", "fetch_mail")
        assert sent.returncode == 2
        assert sent.stderr.startswith("error: Redis does not answer") and len(sent.stderr.splitlines()) == 1
        assert "CERTIFICATE_VERIFY_FAILED" in sent.stderr and CERTIFICATE_HINT in sent.stderr

        worker = ProcfileProcess("worker", env, tmp_path)
        try:
            wait_for(
                lambda: CERTIFICATE_HINT in worker.log(), timeout=30, what="the worker's refusal", processes=[worker]
            )
        finally:
            worker.stop()
        assert server.tls is other

        unchecked = _run(_env(tmp_path, server.url, REDIS_TLS_VERIFY="false"), "-m", "pipeline.heartbeat", "worker")
        assert unchecked.returncode == 1, unchecked.stderr  # connected: there is just no worker heartbeat
        assert "no worker heartbeat" in unchecked.stderr


def test_a_ca_file_that_is_not_there_is_a_setting_error(tmp_path):
    env = _env(tmp_path, "rediss://127.0.0.1:1/0", REDIS_TLS_CA_FILE=str(tmp_path / "missing.pem"))
    env["DATABASE_URL"] = migrated_sqlite(tmp_path / "stack.sqlite3", env)
    line = f"error: REDIS_TLS_CA_FILE='{tmp_path / 'missing.pem'}' is not a file; set it to the CA's PEM file"
    for command in (["manage.py", "fetch_mail"], ["scheduler.py"], ["-m", "pipeline.heartbeat", "worker"]):
        result = _run(env, *command)
        assert (result.returncode, result.stderr.strip()) == (2, line), command
