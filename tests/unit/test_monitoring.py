"""/health/ready, /health/pipeline and /metrics, over the suite's real Redis."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from pipeline import locks
from webapp.inbox.models import Attachment, Blob, FetchRun, Mailbox, MailMessage
from webapp.inbox.services.health import pipeline_health

pytestmark = pytest.mark.django_db

#: A moment just after a */15 slot, so that slot counts are exact.
NOW = dt.datetime(2026, 3, 2, 15, 3, tzinfo=dt.UTC)


def _tick(client, at: dt.datetime) -> None:
    client.set(locks.key("scheduler", "last_tick"), at.isoformat())
    client.set(locks.key("scheduler", "heartbeat"), "1", ex=120)


def _worker(client, host: str = "web-1", pid: int = 123) -> None:
    client.set(locks.key("worker", host, pid, "heartbeat"), f"{time.time():.3f}", ex=60)


@pytest.fixture
def run():
    mailbox = Mailbox.objects.create(name="facturas")
    started = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
    return FetchRun.objects.create(
        mailbox=mailbox,
        status=FetchRun.Status.COMPLETED,
        messages_seen=2,
        messages_new=2,
        attachments_stored=3,
        attachments_failed=1,
        started_at=started,
        finished_at=started + dt.timedelta(seconds=4),
        created_at=started,
    )


def test_healthy_pipeline(redis_client, run):
    _tick(redis_client, NOW - dt.timedelta(minutes=3))
    _worker(redis_client)
    healthy, report = pipeline_health(now=NOW)
    assert healthy, report["problems"]
    assert report["status"] == "ok"
    assert report["workers"][0]["host"] == "web-1" and report["workers"][0]["pid"] == "123"
    assert report["scheduler"]["missed_slots"] == 0 and report["scheduler"]["every_seconds"] == 900
    assert report["queues"]["default"] == {"ready": 0, "in_progress": 0, "delayed": 0, "dead": 0}
    assert report["mailboxes"] == [
        {
            "mailbox": "facturas",
            "last_run": {
                "id": run.pk,
                "status": "completed",
                "trigger": "schedule",
                "created_at": run.created_at.isoformat(),
                "finished_at": run.finished_at.isoformat(),
                "age_seconds": pytest.approx((dt.datetime.now(dt.UTC) - run.created_at).total_seconds(), abs=60),
                "attachments_failed": 1,
                "messages_failed": 0,
            },
        }
    ]


def test_one_missed_slot_is_tolerated_two_are_not(redis_client, run):
    _worker(redis_client)
    _tick(redis_client, NOW - dt.timedelta(minutes=18))  # the 15:00 slot was missed
    healthy, report = pipeline_health(now=NOW)
    assert healthy and report["scheduler"]["missed_slots"] == 1
    _tick(redis_client, NOW - dt.timedelta(minutes=33))  # 14:45 and 15:00
    healthy, report = pipeline_health(now=NOW)
    assert not healthy and report["problems"] == ["the scheduler missed 2 slots"]


def test_no_worker_heartbeat_and_dead_letters_are_unhealthy(redis_client, run, monkeypatch):
    _tick(redis_client, NOW - dt.timedelta(minutes=3))
    healthy, report = pipeline_health(now=NOW)
    assert not healthy and report["problems"] == ["no worker heartbeat"]

    _worker(redis_client)
    monkeypatch.setenv("HEALTH_MAX_DEAD_LETTERS", "3")
    redis_client.zadd("dramatiq:render.XQ", {f"m{i}": i for i in range(3)})
    healthy, report = pipeline_health(now=NOW)
    assert not healthy and report["problems"] == ["3 dead letters (limit 3)"]
    assert report["dead_letters"] == {"count": 3, "limit": 3}


def test_a_scheduler_that_never_ticked_counts_only_without_heartbeat(redis_client, run):
    _worker(redis_client)
    redis_client.set(locks.key("scheduler", "heartbeat"), "1", ex=120)
    assert pipeline_health(now=NOW)[0]
    redis_client.delete(locks.key("scheduler", "heartbeat"))
    healthy, report = pipeline_health(now=NOW)
    assert not healthy and "never ticked" in report["problems"][0]


def test_endpoints_answer_json_with_the_right_status(client, redis_client, run, monkeypatch):
    monkeypatch.setenv("METRICS_TOKEN", "s3cret-token")
    token = {"Authorization": "Bearer s3cret-token"}
    assert client.get("/health/ready").json()["status"] == "ok"
    answer = client.get(reverse("inbox:health_pipeline"), headers=token)
    assert answer.status_code == 503 and answer["Cache-Control"] == "no-store"
    assert "no worker heartbeat" in answer.json()["problems"]
    _worker(redis_client)
    _tick(redis_client, dt.datetime.now(dt.UTC))
    answer = client.get(reverse("inbox:health_pipeline"), headers=token)
    assert answer.status_code == 200, answer.json()


def test_metrics_need_the_bearer_token(client, redis_client, run, monkeypatch):
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    assert client.get("/metrics").status_code == 404
    monkeypatch.setenv("METRICS_TOKEN", "s3cret-token")
    denied = client.get("/metrics")
    assert denied.status_code == 401 and denied["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_metrics_count_messages_attachments_bytes_failures_and_durations(client, redis_client, run, monkeypatch):
    monkeypatch.setenv("METRICS_TOKEN", "s3cret-token")
    FetchRun.objects.filter(pk=run.pk).update(messages_failed=2)
    message = MailMessage.objects.create(
        mailbox=run.mailbox, fetch_run=run, source_id="a", status=MailMessage.Status.PROCESSED
    )
    blob = Blob.objects.create(sha256="a" * 64, size=1500, storage_name="blobs/aa/aa/x")
    Attachment.objects.create(
        message=message,
        position=0,
        original_filename="f.pdf",
        filename="f.pdf",
        blob=blob,
        status=Attachment.Status.STORED,
        preview_status=Attachment.PreviewStatus.READY,
    )
    Attachment.objects.create(
        message=message, position=1, original_filename="big.pdf", filename="big.pdf", status=Attachment.Status.FAILED
    )
    _worker(redis_client)
    redis_client.rpush("dramatiq:default", "m1", "m2")
    answer = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/plain")
    text = answer.content.decode()
    for line in (
        'invoicemail_messages{mailbox="facturas",status="processed"} 1.0',
        'invoicemail_attachments{status="stored"} 1.0',
        'invoicemail_attachments{status="failed"} 1.0',
        'invoicemail_previews{status="ready"} 1.0',
        "invoicemail_stored_bytes_total 1500.0",
        "invoicemail_stored_objects_total 1.0",
        'invoicemail_fetch_runs{mailbox="facturas",status="completed"} 1.0',
        'invoicemail_failures_total{kind="attachment",mailbox="facturas"} 1.0',
        'invoicemail_failures_total{kind="message",mailbox="facturas"} 2.0',
        'invoicemail_fetch_run_duration_seconds_count{mailbox="facturas"} 1.0',
        'invoicemail_fetch_run_duration_seconds_sum{mailbox="facturas"} 4.0',
        'invoicemail_queue_messages{queue="default",state="ready"} 2.0',
        "invoicemail_worker_processes 1.0",
        "invoicemail_redis_up 1.0",
    ):
        assert line in text, line


def test_the_next_tick_and_missed_slots_cross_santiagos_april_change_in_utc(redis_client, run, monkeypatch):
    monkeypatch.setenv("SCHEDULE_TIMEZONE", "America/Santiago")
    change = dt.datetime(2027, 4, 4, 3, tzinfo=dt.UTC)  # 00:00 -03 goes back to 23:00 -04
    _tick(redis_client, change - dt.timedelta(minutes=15))  # 23:45 -03, the last slot before the change
    _worker(redis_client)
    _, report = pipeline_health(now=change + dt.timedelta(minutes=31))  # 23:31 -04, wall time before 23:45
    assert report["scheduler"]["timezone"] == "America/Santiago"
    assert report["scheduler"]["next_tick"] == "2027-04-04T03:45:00+00:00"  # 23:45 -04, not "already past"
    assert report["scheduler"]["missed_slots"] == 2  # 23:00 and 23:15 -04; 23:30 is within the grace


def test_a_schedule_zone_of_its_own_moves_an_hourly_crontab(redis_client, run, monkeypatch):
    monkeypatch.setenv("SCHEDULE_CRON", "0 8 * * *")
    monkeypatch.setenv("SCHEDULE_TIMEZONE", "Europe/Berlin")
    _tick(redis_client, NOW)
    _, report = pipeline_health(now=NOW)
    following = dt.datetime.fromisoformat(report["scheduler"]["next_tick"])
    assert following.astimezone(ZoneInfo("Europe/Berlin")).hour == 8
