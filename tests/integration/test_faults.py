"""Faults against the Procfile's real worker and scheduler on a real Redis: nothing lost, nothing doubled.

Each test starts its own Redis (AOF on) and SQLite (or PostgreSQL) and drives real processes:
kill -9 mid-save, a poison message, SIGTERM during a burst, Redis restarted with a backlog,
Redis down at tick time, the database stopped and started, two workers on one Redis, dead letters.
The catch-up runs on the tick (every 2 s here) with PIPELINE_STALE_SECONDS=3.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis
import requests
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from pipeline import queues, samples
from pipeline.embedded_redis import EmbeddedRedis, find_redis_server
from tests.support import needs
from tests.support.database import attached_database
from tests.support.migrated import migrated_sqlite
from tests.support.postgres import temporary_postgres
from tests.support.processes import ProcfileProcess, free_port, procfile_commands, run_procfile_once, wait_for
from webapp.inbox.models import Attachment, Blob, FetchRun, Mailbox, MailMessage

pytestmark = [pytest.mark.slow]

#: The Procfile's worker, with the test-only probe module loaded beside our actors.
PROBED_WORKER = procfile_commands()["worker"].replace(
    "dramatiq pipeline.actors", "dramatiq pipeline.actors tests.support.fault_probe", 1
)
assert procfile_commands()["worker"] != PROBED_WORKER


def base_env(tmp_path: Path, redis_url: str, database_url: str | None = None) -> dict[str, str]:
    return {
        "STATE_DIR": str(tmp_path / "state"),
        "DATABASE_URL": database_url or f"sqlite:///{tmp_path / 'stack.sqlite3'}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "fault-test-secret-key-0123456789-abcdefghijklmnopqrstuv",
        "DEBUG": "false",
        "HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SCHEDULER_TICK_ON_START": "true",
        "SCHEDULE_CRON": "*/2 * * * * *",
        "PIPELINE_STALE_SECONDS": "3",
        "WORKER_SHUTDOWN_TIMEOUT_MS": "10000",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }


@pytest.fixture
def stack(tmp_path):
    with EmbeddedRedis.start(tmp_path / "redis") as server:
        env = base_env(tmp_path, server.url)
        env["DATABASE_URL"] = migrated_sqlite(tmp_path / "stack.sqlite3", env)
        (tmp_path / "logs").mkdir()
        (tmp_path / "inbox").mkdir()
        yield env, server


def mail(folio: int, *parts: tuple[str, str, bytes]) -> bytes:
    return samples.supplier_email(
        folio=folio, message_id=f"<fault-{folio}-{time.time_ns()}@b.cl>", attachments=list(parts)
    )


def note(name: str, size: int = 2000) -> tuple[str, str, bytes]:
    """A small attachment that needs no preview (text): only the save path is exercised."""
    return (name, "text/plain", (name.encode() + b"\n") * (size // (len(name) + 1)))


def folder_mailbox(db: str, inbox: Path) -> Mailbox:
    return Mailbox.objects.using(db).create(name="suppliers", settings={"path": str(inbox)})


def _nothing_waiting(client: redis.Redis) -> bool:
    """No queue has a message ready (a killed worker's unacked ones count as in progress until requeued)."""
    return all(q["ready"] == 0 for q in queues.queue_stats(client).values())


def processed(db: str) -> int:
    return MailMessage.objects.using(db).filter(status=MailMessage.Status.PROCESSED).count()


def assert_nothing_doubled_or_half_written(db: str, env: dict) -> None:
    media = Path(env["STATE_DIR"]) / "media"
    for message in MailMessage.objects.using(db).filter(status=MailMessage.Status.PROCESSED):
        positions = list(Attachment.objects.using(db).filter(message=message).values_list("position", flat=True))
        assert sorted(positions) == list(range(message.attachment_count)), f"message {message.pk}: {positions}"
    for blob in Blob.objects.using(db):
        path = media / blob.storage_name
        assert path.exists() and path.stat().st_size == blob.size, f"blob {blob.pk} half-written"
    stored = Attachment.objects.using(db).filter(status=Attachment.Status.STORED)
    assert not stored.filter(blob__isnull=True).exists()


def test_kill_9_while_storing_big_attachments_is_caught_up_by_the_next_tick(tmp_path, stack, django_db_blocker):
    env, _ = stack
    inbox = tmp_path / "inbox"
    big = [(f"scan-{n}.bin", "application/octet-stream", os.urandom(1024) * (20 * 1024 + n)) for n in range(3)]
    (inbox / "01-big.eml").write_bytes(mail(1, *big))
    (inbox / "02-small.eml").write_bytes(mail(2, note("a.txt")))
    with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
        folder_mailbox(db, inbox)
        scheduler = ProcfileProcess("scheduler", env, tmp_path / "logs")
        worker = ProcfileProcess("worker", env, tmp_path / "logs")
        try:
            # mid-way: at least one big attachment stored, the message still pending
            wait_for(
                lambda: Attachment.objects.using(db).filter(message__source_id="01-big.eml").exists(),
                timeout=60,
                interval=0.05,
                what="the first big attachment",
                processes=[worker, scheduler],
            )
            os.killpg(worker.pid, signal.SIGKILL)
            worker.process.wait(10)
            killed_at = time.monotonic()
            big_row = MailMessage.objects.using(db).get(source_id="01-big.eml")
            stored_at_kill = big_row.attachments.count()
            assert big_row.status == MailMessage.Status.PENDING and stored_at_kill < 3
            assert (inbox / "01-big.eml").exists() and not (inbox / "processed" / "01-big.eml").exists(), (
                "nothing is marked processed before every attachment is stored"
            )
            worker = ProcfileProcess("worker", env, tmp_path / "logs")  # the platform restarts it
            wait_for(lambda: processed(db) == 2, timeout=60, what="the catch-up", processes=[worker, scheduler])
            caught_up = time.monotonic() - killed_at
        finally:
            codes = [p.stop() for p in (worker, scheduler)]
        big_row.refresh_from_db(using=db)
        rows = list(Attachment.objects.using(db).filter(message=big_row).select_related("blob").order_by("position"))
        assert [r.original_filename for r in rows] == ["scan-0.bin", "scan-1.bin", "scan-2.bin"]
        assert Blob.objects.using(db).filter(sha256__in=[r.blob.sha256 for r in rows]).count() == 3
        assert big_row.delivery_attempts >= 2
        assert_nothing_doubled_or_half_written(db, env)
    assert (inbox / "processed" / "01-big.eml").exists()
    assert codes == [0, 0]
    print(
        f"\nkill -9 with {stored_at_kill}/3 stored: caught up {caught_up:.1f} s after the kill "
        f"(stale after 3 s, tick every 2 s)"
    )


def test_a_poison_message_is_quarantined_and_the_rest_flows_around_it(tmp_path, stack, django_db_blocker):
    env, server = stack
    env = dict(env, PIPELINE_MAX_DELIVERIES="2", WORKER_THREADS="1")
    inbox = tmp_path / "inbox"
    (inbox / "01.eml").write_bytes(mail(1, note("ok-1.txt")))
    (inbox / "02-poison.eml").write_bytes(mail(2, note("before.txt"), note("poison.pdf")))
    for n in range(3, 6):
        (inbox / f"{n:02d}.eml").write_bytes(mail(n, note(f"ok-{n}.txt")))
    with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
        folder_mailbox(db, inbox)
        scheduler = ProcfileProcess("scheduler", env, tmp_path / "logs")
        worker = ProcfileProcess("worker", env, tmp_path / "logs", command=PROBED_WORKER)
        deaths = []
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if not worker.alive():  # the poison killed a worker process; the master exited too
                    deaths.append(worker.process.returncode)
                    worker.stop()
                    worker = ProcfileProcess("worker", env, tmp_path / "logs", command=PROBED_WORKER)
                poison = MailMessage.objects.using(db).filter(source_id="02-poison.eml").first()
                if poison and poison.status == MailMessage.Status.QUARANTINED and processed(db) == 4:
                    break
                time.sleep(0.2)  # a poll, not wait_for: a dead worker is restarted on the way
            else:
                raise AssertionError(f"not settled; deaths {deaths}\n{worker.log()[-3000:]}")
            # Three more ticks (over 4 s, past PIPELINE_STALE_SECONDS) handled by the worker, and all
            # they sent: the catch-up does not deliver the quarantined message again.
            handled = worker.log().count("tick done in")
            client = redis.Redis.from_url(server.url)
            wait_for(
                lambda: worker.log().count("tick done in") >= handled + 3 and _nothing_waiting(client),
                timeout=30,
                what="three more ticks handled",
                processes=[worker, scheduler],
            )
            client.close()
            poison.refresh_from_db(using=db)
        finally:
            codes = [p.stop() for p in (worker, scheduler)]
    assert poison.delivery_attempts == 3 and len(deaths) == 2, (poison.delivery_attempts, deaths)
    assert "Gave up after 2 deliveries" in poison.error
    assert (inbox / "failed" / "02-poison.eml").exists()
    assert "Gave up after 2 deliveries" in (inbox / "failed" / "02-poison.eml.reason").read_text()
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["01.eml", "03.eml", "04.eml", "05.eml"]
    assert codes == [0, 0]
    print(f"\npoison: worker died {len(deaths)} times (exit statuses {deaths}), quarantined at delivery 3")


def test_sigterm_during_a_burst_loses_nothing(tmp_path, stack, django_db_blocker):
    env, _ = stack
    inbox = tmp_path / "inbox"
    for n in range(40):
        (inbox / f"{n:03d}.eml").write_bytes(mail(n, note(f"a-{n}.txt", 300_000), note(f"b-{n}.txt", 300_000)))
    with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
        folder_mailbox(db, inbox)
        scheduler = ProcfileProcess("scheduler", env, tmp_path / "logs")
        worker = ProcfileProcess("worker", env, tmp_path / "logs")
        try:
            wait_for(lambda: processed(db) >= 3, timeout=60, what="the burst to start", processes=[worker, scheduler])
            before = processed(db)
            started = time.monotonic()
            os.killpg(worker.pid, signal.SIGTERM)  # Heroku: SIGTERM to every process of the dyno...
            wait_for(
                lambda: "Stopping worker process" in worker.log(), timeout=10, interval=0.02, what="the stop to begin"
            )
            os.killpg(worker.pid, signal.SIGTERM)  # ...and the master forwards its own copy, mid-stop
            worker.process.wait(20)
            stopped_in = time.monotonic() - started
            stop_code = worker.process.returncode
            worker.stop()
            worker = ProcfileProcess("worker", env, tmp_path / "logs")  # the new release
            wait_for(lambda: processed(db) == 40, timeout=90, what="every message", processes=[worker, scheduler])
            # the first worker may have finished the burst: a stop before the new one's interpreter runs
            # its first line (a deploy stopping a release it just started) dies by the signal
            wait_for(lambda: "is ready for action" in worker.log(), timeout=30, what="the new release up")
        finally:
            codes = [p.stop() for p in (worker, scheduler)]
        assert Attachment.objects.using(db).count() == 80
        assert_nothing_doubled_or_half_written(db, env)
    assert stop_code == 0 and stopped_in < 10, (stop_code, stopped_in)
    assert codes == [0, 0]
    print(f"\nSIGTERM x2 with {before}/40 done: worker exited 0 in {stopped_in:.1f} s; all 40 done after restart")


#: Enough messages that the backlog is a list Redis writes to its AOF, not one key; more prove nothing more.
BACKLOG = 100


def test_redis_restart_keeps_a_backlog_of_messages(tmp_path, django_db_blocker):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (tmp_path / "logs").mkdir()
    for n in range(BACKLOG):
        (inbox / f"{n:03d}.eml").write_bytes(mail(n, note(f"n-{n}.txt", 200)))
    server = EmbeddedRedis.start(tmp_path / "redis")
    env = dict(base_env(tmp_path, server.url), WORKER_THREADS="4", SCHEDULER_TICK_ON_START="false")
    env["DATABASE_URL"] = migrated_sqlite(tmp_path / "stack.sqlite3", env)
    try:
        with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
            mailbox = folder_mailbox(db, inbox)
            run = FetchRun.objects.using(db).create(mailbox=mailbox, status=FetchRun.Status.RUNNING)
            ids = [
                MailMessage.objects.using(db).create(mailbox=mailbox, fetch_run=run, source_id=f"{n:03d}.eml").pk
                for n in range(BACKLOG)
            ]
            client = redis.Redis.from_url(server.url)
            broker = RedisBroker(client=client)
            for message_id in ids:
                broker.enqueue(
                    Message(queue_name="default", actor_name="save_message", args=(message_id,), kwargs={}, options={})
                )
            assert client.llen("dramatiq:default") == BACKLOG
            client.close()
            server.stop()  # SIGTERM: Redis writes its AOF and exits
            server = EmbeddedRedis.start(tmp_path / "redis", port=server.port)
            client = redis.Redis.from_url(server.url)
            assert client.llen("dramatiq:default") == BACKLOG, "the backlog survived the restart"
            client.close()
            started = time.monotonic()
            worker = ProcfileProcess("worker", env, tmp_path / "logs")
            try:
                wait_for(
                    lambda: processed(db) == BACKLOG,
                    timeout=150,
                    interval=0.5,
                    what="the backlog",
                    processes=[worker],
                )
            finally:
                code = worker.stop()
            took = time.monotonic() - started
            assert Attachment.objects.using(db).count() == BACKLOG
            assert set(MailMessage.objects.using(db).values_list("delivery_attempts", flat=True)) == {1}
    finally:
        server.stop()
    assert code == 0
    print(f"\nRedis restarted with {BACKLOG} queued: all processed in {took:.1f} s by one worker x 4 threads")


def _password_redis(data_dir: Path, port: int, password: str) -> subprocess.Popen:
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            find_redis_server(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--requirepass",
            password,
            "--logfile",
            str(data_dir / "redis.log"),
        ],
        start_new_session=True,
    )
    client = redis.Redis(port=port, password=password)
    wait_for(lambda: _pings(client), timeout=10, what="redis")
    return process


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False


def test_redis_down_at_tick_time_with_a_password(tmp_path, django_db_blocker):
    """The scheduler outlives a Redis outage and ticks once it is back; /health/ answers 503 meanwhile;
    the password in REDIS_URL is never in a log or an answer."""
    password = "s3cret-Redis-pa55word"
    port = free_port()
    server = _password_redis(tmp_path / "redis", port, password)
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    env = dict(base_env(tmp_path, url), SCHEDULER_TICK_ON_START="false")
    (tmp_path / "logs").mkdir()
    env["DATABASE_URL"] = migrated_sqlite(tmp_path / "stack.sqlite3", env)
    web_port = free_port()
    client = redis.Redis.from_url(url)
    scheduler = ProcfileProcess("scheduler", env, tmp_path / "logs")
    web = ProcfileProcess("web", dict(env, PORT=str(web_port), WEB_CONCURRENCY="1"), tmp_path / "logs")
    health_url = f"http://127.0.0.1:{web_port}/health/"
    try:
        wait_for(lambda: client.llen("dramatiq:default") >= 1, timeout=15, what="a first tick", processes=[scheduler])
        wait_for(lambda: _status(health_url) == 200, timeout=30, what="web", processes=[web])
        server.terminate()
        server.wait(10)
        stopped = time.monotonic()
        wait_for(
            lambda: "cannot reach Redis" in scheduler.log(),
            timeout=30,
            what="a tick to find Redis down",
            processes=[scheduler],
        )
        down = requests.get(health_url, timeout=20)
        assert down.status_code == 503 and down.json()["checks"]["redis"]["ok"] is False
        assert password not in down.text
        assert scheduler.alive(), scheduler.log()[-2000:]
        restarted = time.monotonic()
        down_for = restarted - stopped
        server = _password_redis(tmp_path / "redis", port, password)
        before = client.llen("dramatiq:default")
        wait_for(
            lambda: client.llen("dramatiq:default") > before,
            timeout=15,
            what="a tick after the outage",
            processes=[scheduler],
        )
        back_in = time.monotonic() - restarted
        wait_for(lambda: _status(health_url) == 200, timeout=30, what="healthy again", processes=[web])
        status = subprocess.run(
            [os.sys.executable, "manage.py", "pipeline_status", "--json"],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        codes = [p.stop() for p in (scheduler, web)]
        client.close()
        server.terminate()
        server.wait(10)
    logs = scheduler.log() + web.log()
    assert "cannot reach Redis" in scheduler.log()
    assert password not in logs and password not in status.stdout + status.stderr
    assert codes == [0, 0]
    print(
        f"\nRedis down {down_for:.1f} s at tick time: scheduler alive, first tick {back_in:.1f} s after Redis came back"
    )


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return 0


@pytest.mark.postgres
def test_database_stopped_and_started_while_saving(tmp_path, django_db_blocker):
    needs.pg_bin()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (tmp_path / "logs").mkdir()
    for n in range(30):
        (inbox / f"{n:03d}.eml").write_bytes(mail(n, note(f"a-{n}.txt", 400_000), note(f"b-{n}.txt", 400_000)))
    with temporary_postgres() as pg, EmbeddedRedis.start(tmp_path / "redis") as server:
        env = base_env(tmp_path, server.url, pg.create_database("invoicemail"))
        run_procfile_once("release", env)
        with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
            folder_mailbox(db, inbox)
            scheduler = ProcfileProcess("scheduler", env, tmp_path / "logs")
            worker = ProcfileProcess("worker", env, tmp_path / "logs")
            try:
                wait_for(lambda: processed(db) >= 3, timeout=60, what="saving to start", processes=[worker, scheduler])
                # a fast shutdown: the test cluster runs with synchronous_commit off, and an immediate
                # stop would lose commits the server had acknowledged, which no production database does
                pg._run("pg_ctl", "-D", str(pg.data_dir), "-m", "fast", "-w", "stop")
                stopped = time.monotonic()
                wait_for(
                    lambda: "OperationalError" in worker.log() + scheduler.log(),
                    timeout=30,
                    what="the pipeline to meet the database gone",
                    processes=[worker, scheduler],
                )
                down_for = time.monotonic() - stopped
                pg.resume()
                from django.db import connections

                connections[db].close()
                restarted = time.monotonic()
                wait_for(
                    lambda: processed(db) == 30,
                    timeout=120,
                    interval=0.5,
                    what="every message after the outage",
                    processes=[worker, scheduler],
                )
                took = time.monotonic() - restarted
                assert_nothing_doubled_or_half_written(db, env)
                assert Attachment.objects.using(db).count() == 60
            finally:
                codes = [p.stop() for p in (worker, scheduler)]
    assert codes == [0, 0]
    assert "OperationalError" in worker.log() or "OperationalError" in scheduler.log()
    print(f"\nPostgreSQL down {down_for:.1f} s mid-burst: all 30 messages done {took:.1f} s after it came back")


def test_two_workers_share_the_work_each_message_once_and_dead_letters_are_listed(tmp_path, stack, django_db_blocker):
    env, server = stack
    probe = tmp_path / "probe.log"
    env = dict(env, FAULT_PROBE_LOG=str(probe), PIPELINE_STALE_SECONDS="600")
    inbox = tmp_path / "inbox"
    for n in range(60):
        (inbox / f"{n:03d}.eml").write_bytes(mail(n, note(f"a-{n}.txt", 100_000)))
    with django_db_blocker.unblock(), attached_database(env["DATABASE_URL"]) as db:
        folder_mailbox(db, inbox)
        workers = [ProcfileProcess("worker", env, tmp_path / "logs", command=PROBED_WORKER) for _ in range(2)]
        scheduler = ProcfileProcess("scheduler", env, tmp_path / "logs")
        client = redis.Redis.from_url(server.url)
        try:
            wait_for(lambda: processed(db) == 60, timeout=90, what="every message", processes=[*workers, scheduler])
            # a message that can never succeed (its row does not exist) goes to the dead letters, with its reason
            RedisBroker(client=client).enqueue(
                Message(queue_name="default", actor_name="fetch_mailbox", args=(987654,), kwargs={}, options={})
            )
            letters = wait_for(lambda: queues.dead_letters(client), timeout=30, what="a dead letter", processes=workers)
            assert letters[0]["actor_name"] == "fetch_mailbox" and letters[0]["args"] == [987654]
            assert "DoesNotExist" in letters[0]["reason"]
            assert queues.dead_letter_resend(
                client, RedisBroker(client=client), queue="default", message_id=letters[0]["message_id"]
            )
            again = wait_for(
                lambda: queues.dead_letters(client),
                timeout=30,
                what="the resent letter to die again",
                processes=workers,
            )
            assert again[0]["message_id"] != letters[0]["message_id"] and again[0]["args"] == [987654]
        finally:
            codes = [p.stop() for p in (*workers, scheduler)]
            client.close()
        assert set(MailMessage.objects.using(db).values_list("delivery_attempts", flat=True)) == {1}
    lines = [line.split() for line in probe.read_text().splitlines()]
    per_pid = collections.Counter(pid for pid, _, _ in lines)
    assert len(lines) == 60 and len({(m, p) for _, m, p in lines}) == 60, "each attachment written once"
    assert len(per_pid) == 2 and min(per_pid.values()) >= 5, f"both workers took a share: {per_pid}"
    assert codes == [0, 0, 0]
    print(f"\ntwo workers on one Redis: attachments per worker process {sorted(per_pid.values())}")
