"""The Procfile's web as a platform runs it: a slow client downloads a large file whole while the
web keeps answering, two checkouts' webs run side by side, and `make run` listens on this machine only.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests
from django.urls import reverse

from pipeline.config import BASE_DIR
from pipeline.embedded_redis import EmbeddedRedis
from pipeline.storage import blob_name
from tests.support.database import attached_database
from tests.support.migrated import migrated_sqlite
from tests.support.processes import VENV_BIN, ProcfileProcess, free_port, wait_for
from tests.support.web import admin_session
from webapp.inbox.models import Attachment, Blob, Mailbox, MailMessage

pytestmark = [pytest.mark.slow]

PASSWORD = "serving-Secret-pass-42"
#: The file of the issue: 100 MB.
FILE_BYTES = 100 * 1024 * 1024
#: gunicorn's worker timeout for the test: the download lasts several times longer.
WORKER_TIMEOUT = 3
#: How long the throttled client takes over the whole file: over three worker timeouts.
DOWNLOAD_SECONDS = 10
#: The client's receive buffer: the kernel may not hold the file on the client's behalf.
RECEIVE_BUFFER = 64 * 1024
#: Slowest answer of /health/live that counts as quick.
QUICK_SECONDS = 1.0


def web_env(tmp_path: Path, redis_url: str, name: str = "web") -> dict[str, str]:
    return {
        "STATE_DIR": str(tmp_path / f"state-{name}"),
        "DATABASE_URL": f"sqlite:///{tmp_path / f'{name}.sqlite3'}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "serving-test-secret-key-0123456789-abcdefghijklmnop",
        "DEBUG": "false",
        "HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),  # one home for every web of a test, as on one machine
    }


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def redis_server(tmp_path):
    with EmbeddedRedis.start(tmp_path / "redis") as server:
        yield server


def stored_attachment(env: dict[str, str], django_db_blocker) -> tuple[int, str]:
    """A 100 MB attachment in the web's storage; (its id, its sha256)."""
    data = os.urandom(FILE_BYTES)
    sha = hashlib.sha256(data).hexdigest()
    path = Path(env["STATE_DIR"]) / "media" / blob_name(sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    del data
    with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
        blob = Blob.objects.using(db).create(
            sha256=sha, size=FILE_BYTES, content_type="application/pdf", storage_name=blob_name(sha)
        )
        mailbox = Mailbox.objects.using(db).create(name="big", settings={"path": "/tmp/none"})
        message = MailMessage.objects.using(db).create(mailbox=mailbox, source_id="big-1", subject="big")
        attachment = Attachment.objects.using(db).create(
            message=message,
            position=0,
            original_filename="grande.pdf",
            filename="grande.pdf",
            content_type="application/pdf",
            blob=blob,
            status=Attachment.Status.STORED,
        )
    return attachment.pk, sha


def throttled_download(port: int, path: str, cookie: str) -> tuple[dict[str, str], int, str, float]:
    """GET `path` over a raw socket read at FILE_BYTES / DOWNLOAD_SECONDS: (headers, body bytes, sha256, seconds)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    started = time.monotonic()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed before the headers: {head!r}"
        head += chunk
    head, body = head.split(b"\r\n\r\n", 1)
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {"status": status, **{k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}}
    digest, size = hashlib.sha256(body), len(body)
    rate = FILE_BYTES / DOWNLOAD_SECONDS
    while chunk := sock.recv(RECEIVE_BUFFER):
        digest.update(chunk)
        size += len(chunk)
        if (ahead := size / rate - (time.monotonic() - started)) > 0:
            time.sleep(ahead)
    sock.close()
    return headers, size, digest.hexdigest(), time.monotonic() - started


def test_a_slow_client_gets_every_byte_while_the_web_keeps_answering(tmp_path, redis_server, django_db_blocker):
    env = dict(web_env(tmp_path, redis_server.url), WEB_TIMEOUT=str(WORKER_TIMEOUT), WEB_CONCURRENCY="1")
    env["DATABASE_URL"] = migrated_sqlite(tmp_path / "web.sqlite3", env)
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "admin", "--email", "a@b.cl"],
        env=dict(env, DJANGO_SUPERUSER_PASSWORD=PASSWORD),
        check=True,
        cwd=BASE_DIR,
    )
    pk, sha = stored_attachment(env, django_db_blocker)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    web = ProcfileProcess("web", dict(env, PORT=str(port)), tmp_path)
    try:
        wait_for(lambda: answers(f"{base_url}/health/live"), timeout=30, what="the web to answer", processes=[web])
        session = admin_session(base_url, password=PASSWORD)
        cookie = f"sessionid={session.cookies['sessionid']}"

        probes: list[float | str] = []
        downloading = threading.Event()

        def probe_liveness():
            while downloading.is_set():
                started = time.monotonic()
                try:
                    status = requests.get(f"{base_url}/health/live", timeout=5).status_code
                    probes.append(time.monotonic() - started if status == 200 else f"status {status}")
                except requests.RequestException as exc:
                    probes.append(repr(exc))
                time.sleep(0.5)

        downloading.set()
        prober = threading.Thread(target=probe_liveness, daemon=True)
        prober.start()
        try:
            headers, size, digest, seconds = throttled_download(
                port, reverse("inbox:attachment_download", args=[pk]), cookie
            )
        finally:
            downloading.clear()
            prober.join()
        print(
            f"\n{size / 2**20:.0f} MB in {seconds:.1f} s through a {RECEIVE_BUFFER // 1024} KB window "
            f"(worker timeout {WORKER_TIMEOUT} s); /health/live: {len(probes)} probes, "
            f"slowest {max((p for p in probes if isinstance(p, float)), default=0) * 1000:.0f} ms"
        )
        assert headers["status"] == "HTTP/1.1 200 OK"
        assert int(headers["content-length"]) == FILE_BYTES
        assert size == FILE_BYTES and digest == sha, "every byte arrived"
        assert all(isinstance(p, float) and p < QUICK_SECONDS for p in probes), probes
        assert seconds > 3 * WORKER_TIMEOUT and len(probes) >= DOWNLOAD_SECONDS, "probed throughout a long download"
        assert "WORKER TIMEOUT" not in web.log()
    finally:
        code = web.stop()
    assert code == 0, web.log()[-3000:]


def control(socket_path: Path, command: str) -> dict:
    """One gunicornc command over `socket_path`, its JSON answer."""
    answer = subprocess.run(
        [str(VENV_BIN / "gunicornc"), "-s", str(socket_path), "-c", command, "-j"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return json.loads(answer.stdout)


def test_two_checkouts_each_have_their_own_control_socket(tmp_path, redis_server):
    webs = {}
    try:
        for name in ("a", "b"):
            env = web_env(tmp_path, redis_server.url, name)
            env["DATABASE_URL"] = migrated_sqlite(tmp_path / f"{name}.sqlite3", env)
            port = free_port()
            webs[name] = (ProcfileProcess("web", dict(env, PORT=str(port)), tmp_path), Path(env["STATE_DIR"]), port)
        for web, _, port in webs.values():
            wait_for(lambda port=port: answers(f"http://127.0.0.1:{port}/health/live"), timeout=30, processes=[web])
        for web, state, _ in webs.values():
            wait_for(
                lambda state=state: (state / "gunicorn.ctl").exists(),
                timeout=10,
                what="the control socket",
                processes=[web],
            )
            assert control(state / "gunicorn.ctl", "show stats")["pid"] == web.pid
        assert not (tmp_path / ".gunicorn").exists(), "nothing in the home both checkouts share"

        web_a, state_a, _ = webs["a"]
        assert web_a.stop() == 0
        assert not (state_a / "gunicorn.ctl").exists()
        web_b, state_b, port_b = webs["b"]
        assert control(state_b / "gunicorn.ctl", "show stats")["pid"] == web_b.pid, "b's socket outlived a"
        assert answers(f"http://127.0.0.1:{port_b}/health/live")
    finally:
        for web, _, _ in webs.values():
            web.stop()


def listening_addresses(port: int) -> set[str]:
    return {c.laddr.ip for c in psutil.net_connections("inet") if c.status == "LISTEN" and c.laddr.port == port}


def test_make_run_listens_on_this_machine_unless_told_otherwise(tmp_path):
    """Two `make run`s at once, as from two checkouts: the default, and one told to listen everywhere."""
    runs = {}
    try:
        for name, told in (("default", {}), ("everywhere", {"WEB_BIND": "0.0.0.0"})):
            port = free_port()
            state = tmp_path / f"state-{name}"
            state.mkdir()  # with its database migrated already: what is proved here is where the web listens
            migrated_sqlite(state / "db.sqlite3", web_env(tmp_path, "redis://127.0.0.1:1/0"))
            env = {
                "STATE_DIR": str(state),
                "PORT": str(port),
                "ADMIN_PASSWORD": PASSWORD,
                "WORKER_SHUTDOWN_TIMEOUT_MS": "2000",
                "PATH": "/usr/bin:/bin",
                "HOME": str(tmp_path),
                **told,
            }
            command = f"{sys.executable} -m webapp.run_local"
            runs[name] = (ProcfileProcess(f"run-{name}", env, tmp_path, command=command), port)
        for run, port in runs.values():
            wait_for(lambda port=port: answers(f"http://127.0.0.1:{port}/health/live"), timeout=120, processes=[run])
        run, port = runs["default"]
        assert listening_addresses(port) == {"127.0.0.1"}
        assert f"Open http://127.0.0.1:{port}/admin/" in run.log()
        run, port = runs["everywhere"]
        assert listening_addresses(port) == {"0.0.0.0"}
        assert f"Open http://localhost:{port}/admin/" in run.log()
    finally:
        for run, _ in runs.values():
            run.stop(signal.SIGINT, timeout=60)
