"""The Procfile's processes started as a platform starts them, each master PID 1 of its own container.

Each line runs through bin/procfile under `unshare --pid --fork --mount-proc` (Docker without an
init, Railway), with DEBUG off, PostgreSQL, Redis over TLS with a certificate of its own CA
(REDIS_TLS_CA_FILE) and S3 on a local S3 server: the release migrates, then web, worker and
scheduler run together. The scheduler's tick on start reads a folder mailbox, the attachments land
in S3, the web is ready and hands a logged-in admin a stored attachment, and the worker, with a
small WORKER_MAX_MESSAGES, is recycled by its PID 1 master and a new worker process serves.
"""

from __future__ import annotations

import hashlib
import re

import pytest
import requests

from pipeline import samples
from pipeline.embedded_redis import EmbeddedRedis, find_redis_server
from tests.support import needs
from tests.support.database import attached_database
from tests.support.postgres import temporary_postgres
from tests.support.processes import (
    ProcfileProcess,
    as_pid_1,
    dramatiq_idle,
    dramatiq_settled,
    dramatiq_worker_processes,
    free_port,
    manage,
    namespace_pid,
    need_pid_1,
    pid_1_process,
    run_procfile_once,
    wait_for,
)
from tests.support.s3 import s3_server
from tests.support.tls import make_certificates
from tests.support.web import admin_session
from webapp.inbox.models import Attachment, Blob, FetchRun, Mailbox, MailMessage

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

FIRST_BATCH = range(4001, 4004)
SECOND_BATCH = range(4004, 4005)
#: The first batch is 5 messages (a tick, a fetch, then a save per mail: the save parses its small XML
#: itself, and a PDF's thumbnail waits for its first request): a reload. What the first worker process
#: leaves (1 at the most) and the second batch (3) are fewer: the next one serves them without a reload
#: of its own, which would boot a third.
MAX_MESSAGES = 5
ADMIN_PASSWORD = "platform-Secret-pass-42"


def test_release_web_worker_and_scheduler_each_as_pid_1(tmp_path, django_db_blocker):
    needs.pg_bin()
    need_pid_1()
    try:
        find_redis_server(tls=True)
    except RuntimeError as exc:
        needs.missing("a redis-server built with TLS", install=f"apt-get install -y redis-server ({exc})")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    sent: dict[str, bytes] = {}

    def write_mail(folios: range) -> None:
        for folio in folios:
            pdf = samples.invoice_pdf(issuer_name=samples.DEFAULT_ISSUER_NAME, folio=folio, total=folio)
            sent[f"Factura_{folio}.pdf"] = pdf
            mail = samples.supplier_email(
                folio=folio,
                attachments=[
                    (f"DTE_{folio}.xml", "application/xml", samples.dte_xml(folio=folio)),
                    (f"Factura_{folio}.pdf", "application/pdf", pdf),
                ],
            )
            (inbox / f"{folio}.eml").write_bytes(mail)

    write_mail(FIRST_BATCH)
    logs = tmp_path / "logs"
    logs.mkdir()
    certificates = make_certificates(tmp_path / "certificates", name="platform")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"

    with (
        temporary_postgres() as postgres,
        s3_server() as s3,
        EmbeddedRedis.start(tmp_path / "redis", tls=certificates, appendonly=False) as redis_server,
    ):
        assert redis_server.url.startswith("rediss://")
        env = {
            **s3.env(),
            "DATABASE_URL": postgres.create_database("invoicemail"),
            "REDIS_URL": redis_server.url,
            "REDIS_TLS_CA_FILE": str(certificates.ca),
            "STATE_DIR": str(tmp_path / "state"),
            "SECRET_KEY": "platform-stack-secret-key-0123456789-abcdefghijklmnop",
            "DEBUG": "false",
            "HTTPS": "false",  # no TLS proxy in front of the web here
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SCHEDULER_TICK_ON_START": "true",
            "SCHEDULE_CRON": "0 0 1 1 *",  # only the tick on start reads the mailbox during the test
            "WORKER_MAX_MESSAGES": str(MAX_MESSAGES),
            "WORKER_SHUTDOWN_TIMEOUT_MS": "10000",
            "LOG_FORMAT": "plain",
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        }
        release = run_procfile_once("release", env, command=as_pid_1("release"))
        assert "Applying inbox." in release.stdout, release.stdout[-2000:]
        manage(
            env,
            "createsuperuser",
            "--noinput",
            "--username",
            "admin",
            "--email",
            "a@b.cl",
            DJANGO_SUPERUSER_PASSWORD=ADMIN_PASSWORD,
        )
        with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
            Mailbox.objects.using(db).create(name="suppliers", settings={"path": str(inbox)})
            processes = {
                "worker": ProcfileProcess("worker", env, logs, command=as_pid_1("worker")),
                "scheduler": ProcfileProcess("scheduler", env, logs, command=as_pid_1("scheduler")),
                "web": ProcfileProcess(
                    "web", dict(env, PORT=str(port), WEB_BIND="127.0.0.1"), logs, command=as_pid_1("web")
                ),
            }
            running = list(processes.values())
            try:
                programs = {"worker": "dramatiq", "scheduler": "scheduler.py", "web": "gunicorn"}
                mains = {
                    name: wait_for(
                        lambda p=p, program=programs[name]: pid_1_process(p, program),
                        timeout=30,
                        what=f"the {name}",
                        processes=running,
                    )
                    for name, p in processes.items()
                }
                master = mains["worker"]
                first = wait_for(
                    lambda: dramatiq_worker_processes(master), timeout=60, what="a worker process", processes=running
                )

                def processed(folios: range) -> bool:
                    saved = MailMessage.objects.using(db).filter(status=MailMessage.Status.PROCESSED).count()
                    pending = Attachment.objects.using(db).filter(preview_status=Attachment.PreviewStatus.PENDING)
                    return saved == folios.stop - FIRST_BATCH.start and not pending.exists()

                def replaced() -> set[int]:
                    current = dramatiq_worker_processes(master)
                    return current if current and not current & first else set()

                wait_for(lambda: processed(FIRST_BATCH), timeout=90, what="the scheduled read", processes=running)
                run = FetchRun.objects.using(db).get()
                assert (run.trigger, run.status) == (FetchRun.Trigger.SCHEDULE, FetchRun.Status.COMPLETED)
                second = wait_for(replaced, timeout=60, what="a new worker process", processes=running)
                assert {name: namespace_pid(main.pid) for name, main in mains.items()} == {
                    "worker": 1,
                    "scheduler": 1,
                    "web": 1,
                }, "each master is PID 1 of its own namespace"

                write_mail(SECOND_BATCH)  # served by the new worker process: the first one is gone
                fetched = manage(env, "fetch_mail", "suppliers", "--wait", "--timeout", "60")
                count = len(SECOND_BATCH)
                assert f"Completed - {count} new of {count} messages" in fetched.stdout, fetched.stdout
                wait_for(lambda: processed(SECOND_BATCH), timeout=60, what="the second read", processes=running)
                assert not dramatiq_worker_processes(master) & first, "the first worker process did not come back"

                blobs = list(Blob.objects.using(db).all())
                assert len(blobs) == 2 * (len(FIRST_BATCH) + len(SECOND_BATCH))
                objects = s3.client()
                keys = {o["Key"] for o in objects.list_objects_v2(Bucket=s3.bucket)["Contents"]}
                for blob in blobs:
                    assert blob.storage_name in keys
                    body = objects.get_object(Bucket=s3.bucket, Key=blob.storage_name)["Body"].read()
                    assert hashlib.sha256(body).hexdigest() == blob.sha256

                ready = requests.get(f"{base_url}/health/ready", timeout=10)
                assert ready.status_code == 200, ready.text
                checks = ready.json()["checks"]
                assert {"database", "redis"} <= set(checks) and all(check["ok"] for check in checks.values()), checks
                assert requests.get(f"{base_url}/admin/login/", timeout=10).status_code == 200

                target = Attachment.objects.using(db).get(original_filename=f"Factura_{SECOND_BATCH.start}.pdf")
                session = admin_session(base_url, password=ADMIN_PASSWORD)
                url = f"{base_url}/downloads/attachments/{target.pk}/"
                handed = session.get(url, timeout=10, allow_redirects=False)
                assert handed.status_code == 302 and handed.headers["Location"].startswith(s3.endpoint_url)
                download = session.get(url, timeout=10)
                assert download.status_code == 200
                assert download.content == sent[target.original_filename]
                wait_for(
                    lambda: (
                        dramatiq_idle(f"{redis_server.url}?ssl_ca_certs={certificates.ca}")
                        and dramatiq_settled(processes["worker"].log())
                    ),
                    timeout=60,
                    what="the worker idle, with no reload under way",
                    processes=running,
                )
            finally:
                exit_codes = {name: p.stop() for name, p in processes.items()}
            worker_log = processes["worker"].log()

            messages = list(MailMessage.objects.using(db).all())
            assert len(messages) == len(FIRST_BATCH) + len(SECOND_BATCH)
            assert [m.delivery_attempts for m in messages] == [1] * len(messages), "each save ran exactly once"

    all_logs = "\n".join(f"--- {name} ---\n{p.log()[-3000:]}" for name, p in processes.items())
    reloads = re.findall(r"worker process (\d+) asks for a graceful reload: (\d+) messages", worker_log)
    assert reloads and all(int(count) == MAX_MESSAGES for _, count in reloads), worker_log[-4000:]
    assert second and not second & first
    assert "could not ask the master" not in worker_log and "Traceback" not in worker_log, worker_log[-4000:]
    assert exit_codes == {"worker": 0, "scheduler": 0, "web": 0}, all_logs
