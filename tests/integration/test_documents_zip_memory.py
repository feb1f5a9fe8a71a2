"""The ZIP of selected documents streams: gunicorn's worker stays flat while ~100 MB goes out.

gunicorn is started from the Procfile's own command line; its one worker's RSS is sampled
with psutil during the download.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
import zipfile

import psutil
import pytest
import requests

from pipeline.config import BASE_DIR
from pipeline.embedded_redis import EmbeddedRedis
from tests.support.database import attached_database
from tests.support.processes import (
    ProcfileProcess,
    free_port,
    run_procfile_once,
    wait_for,
)
from tests.support.web import admin_session
from webapp.documents.models import Document
from webapp.inbox.models import Mailbox

pytestmark = [pytest.mark.slow]

PASSWORD = "zip-Secret-pass-42"
#: Ten printables of 10 MB: ~100 MB of archive.
DOCUMENTS, FILE_MB = 10, 10
#: What the worker may grow by while streaming.
MAX_GROWTH_MB = 20


def _post_zip(session: requests.Session, base_url: str, ids: list[int]) -> requests.Response:
    url = f"{base_url}/admin/documents/document/"
    session.get(url, timeout=10)
    return session.post(
        url,
        data={"action": "download_zip", "_selected_action": ids, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": url},
        stream=True,
        timeout=60,
    )


def test_zip_download_streams_with_flat_worker_memory(tmp_path, django_db_blocker):
    logs = tmp_path / "logs"
    logs.mkdir()
    state = tmp_path / "state"
    with EmbeddedRedis.start(tmp_path / "redis") as redis_server:
        env = {
            "STATE_DIR": str(state),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'zip.sqlite3'}",
            "REDIS_URL": redis_server.url,
            "SECRET_KEY": "zip-test-secret-key-0123456789-abcdefghijklmnopqrstuv",
            "DEBUG": "false",
            "HTTPS": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        }
        run_procfile_once("release", env)
        subprocess.run(
            [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "admin", "--email", "a@b.cl"],
            env=dict(env, DJANGO_SUPERUSER_PASSWORD=PASSWORD),
            check=True,
            cwd=BASE_DIR,
        )

        media = state / "media"
        digests = {}
        for index in range(DOCUMENTS):
            data = os.urandom(FILE_MB * 1024 * 1024)
            sha = hashlib.sha256(data).hexdigest()
            name = f"printables/{sha[:2]}/{sha}.pdf"
            (media / name).parent.mkdir(parents=True, exist_ok=True)
            (media / name).write_bytes(data)
            digests[f"33-{1000 + index}-76086428-5-impreso.pdf"] = sha
        with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
            mailbox = Mailbox.objects.using(db).create(name="suppliers", settings={"path": "/tmp/none"})
            ids = [
                Document.objects.using(db)
                .create(
                    mailbox=mailbox,
                    doc_type=33,
                    type_name="Factura electrónica",
                    folio=1000 + index,
                    issuer_rut="76086428-5",
                    issuer_name="Proveedora Austral SpA",
                    total=1000,
                    printable_status=Document.PrintableStatus.READY,
                    printable_name=f"printables/{sha[:2]}/{sha}.pdf",
                )
                .pk
                for index, sha in enumerate(digests.values())
            ]

        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        web = ProcfileProcess("web", dict(env, PORT=str(port), WEB_CONCURRENCY="1"), logs)
        try:
            wait_for(lambda: _up(base_url), timeout=30, what="gunicorn to answer", processes=[web])
            (worker,) = psutil.Process(web.pid).children(recursive=True)
            session = admin_session(base_url, password=PASSWORD)
            warm = _post_zip(session, base_url, ids[:1])  # imports and caches loaded once, before measuring
            assert warm.status_code == 200
            for _ in warm.iter_content(1024 * 1024):
                pass
            wait_for(
                lambda: "POST /admin/documents/document/ 200" in web.log(),
                timeout=10,
                interval=0.05,
                what="gunicorn to finish the warm-up request",
                processes=[web],
            )
            baseline = worker.memory_info().rss
            peak, sampling = [baseline], threading.Event()

            def sample():
                while not sampling.is_set():
                    peak.append(worker.memory_info().rss)
                    time.sleep(0.01)  # the sampling period

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started = time.monotonic()
            response = _post_zip(session, base_url, ids)
            assert response.status_code == 200 and response.headers["Content-Type"] == "application/zip"
            assert "Content-Length" not in response.headers, "streamed, not built first"
            out = tmp_path / "documents.zip"
            size = 0
            with out.open("wb") as handle:
                for chunk in response.iter_content(256 * 1024):
                    handle.write(chunk)
                    size += len(chunk)
                    time.sleep(0.003)  # a slow client: the server must hold back, not buffer
            elapsed = time.monotonic() - started
            sampling.set()
            sampler.join()
            growth_mb = (max(peak) - baseline) / (1024 * 1024)
            print(
                f"\nZIP {size / 2**20:.1f} MB in {elapsed:.1f} s; worker RSS baseline {baseline / 2**20:.1f} MB, "
                f"peak growth {growth_mb:.1f} MB over {len(peak)} samples"
            )
            assert size > DOCUMENTS * FILE_MB * 1024 * 1024
            assert len(peak) > 50, "the download was sampled throughout"
            assert growth_mb < MAX_GROWTH_MB

            with zipfile.ZipFile(out) as archive:
                assert sorted(archive.namelist()) == sorted(digests)
                for name, sha in digests.items():
                    with archive.open(name) as entry:
                        digest = hashlib.sha256()
                        while chunk := entry.read(1024 * 1024):
                            digest.update(chunk)
                        assert digest.hexdigest() == sha
        finally:
            code = web.stop()
        assert code == 0, web.log()[-3000:]


def _up(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/admin/login/", timeout=2).status_code == 200
    except requests.RequestException:
        return False
