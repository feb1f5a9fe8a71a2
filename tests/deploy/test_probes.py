"""The web's probes: /health/live answers without the database or Redis; /health/ checks both."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipeline import locks


class _DeadRedis:
    def ping(self):
        raise ConnectionError("redis is down")


@pytest.fixture
def redis_down(monkeypatch):
    monkeypatch.setattr(locks, "shared_client", lambda: _DeadRedis())


def test_liveness_answers_over_plain_http_without_touching_database_or_redis(client, redis_down):
    """No `db` fixture: pytest-django refuses any query, so an answer proves none was made."""
    assert reverse("inbox:health_live") == "/health/live"
    response = client.get("/health/live")  # plain HTTP, as the kubelet asks: no redirect to https
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_readiness_fails_while_redis_is_down_and_liveness_does_not(client, redis_down):
    assert client.get("/health/").status_code == 503
    assert client.get("/health/live").status_code == 200


def test_liveness_is_read_only(client):
    assert client.post("/health/live").status_code == 405
