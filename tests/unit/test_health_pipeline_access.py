"""/health/pipeline tells anyone only whether the pipeline is well (the HTTP code says it too); the report,
which names mailboxes, worker hosts and queue depths, needs the metrics token or a logged-in staff user."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from pipeline import locks
from tests.support.mailbox_pair import mailbox_pair
from webapp.inbox.models import FetchRun, Mailbox

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-token"


@pytest.fixture
def pipeline(redis_client, monkeypatch):
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    FetchRun.objects.create(mailbox=Mailbox.objects.create(name="facturas-gerencia"), status=FetchRun.Status.FAILED)
    return redis_client


def make_healthy(redis_client) -> None:
    redis_client.set(locks.key("worker", "web-7", 99, "heartbeat"), f"{time.time():.3f}", ex=60)
    redis_client.set(locks.key("scheduler", "last_tick"), dt.datetime.now(dt.UTC).isoformat())
    redis_client.set(locks.key("scheduler", "heartbeat"), "1", ex=120)


def health(client, **headers):
    return client.get(reverse("inbox:health_pipeline"), headers=headers)


def test_anyone_gets_the_bare_status_and_its_code(client, pipeline):
    sick = health(client)
    assert (sick.status_code, sick.json()) == (503, {"status": "error"})
    assert sick["Cache-Control"] == "no-store"
    make_healthy(pipeline)
    well = health(client)
    assert (well.status_code, well.json()) == (200, {"status": "ok"})
    assert "facturas-gerencia" not in well.content.decode() and "web-7" not in well.content.decode()


@pytest.mark.parametrize(
    "authorization",
    ["Bearer wrong", "Bearer", "Basic czNjcmV0LXRva2Vu", TOKEN],
    ids=["wrong", "empty", "basic", "bare"],
)
def test_a_wrong_token_gets_the_bare_status(client, pipeline, authorization):
    assert health(client, Authorization=authorization).json() == {"status": "error"}


def test_an_empty_bearer_is_no_token_when_none_is_set(client, pipeline, monkeypatch):
    monkeypatch.delenv("METRICS_TOKEN")
    assert health(client, Authorization="Bearer ").json() == {"status": "error"}


def test_the_metrics_token_gets_the_whole_report(client, pipeline):
    make_healthy(pipeline)
    report = health(client, Authorization=f"Bearer {TOKEN}").json()
    assert report["status"] == "ok" and report["mailboxes"][0]["mailbox"] == "facturas-gerencia"
    assert report["workers"][0]["host"] == "web-7" and "queues" in report and "dead_letters" in report


def test_a_logged_in_user_needs_to_be_staff(client, pipeline):
    client.force_login(User.objects.create_user("visitor", password="x"))
    assert health(client).json() == {"status": "error"}
    client.force_login(User.objects.create_superuser("boss", password="x"))
    report = health(client).json()
    assert report["mailboxes"][0]["mailbox"] == "facturas-gerencia" and "no worker heartbeat" in report["problems"]


def test_the_health_report_of_a_logged_in_clerk_names_only_their_mailboxes(client, tmp_path, redis_client):
    pair = mailbox_pair(tmp_path, redis_client)
    client.force_login(pair.clerk)
    report = health(client).json()
    assert [row["mailbox"] for row in report["mailboxes"]] == ["norte"]
    assert "queues" not in report and "dead_letters" not in report
