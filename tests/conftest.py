"""The whole suite shares one real Redis server, started here before any test module is imported."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from pipeline.embedded_redis import EmbeddedRedis

_redis: EmbeddedRedis | None = None


def pytest_configure(config):
    global _redis
    # Always our own server: a REDIS_URL from the shell may point at real data we must not flush.
    data_dir = Path(tempfile.mkdtemp(prefix="invoicemail-test-redis-"))
    _redis = EmbeddedRedis.start(data_dir)
    os.environ["REDIS_URL"] = _redis.url


def pytest_unconfigure(config):
    if _redis is not None:
        _redis.stop()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ["REDIS_URL"]


@pytest.fixture
def redis_client(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()
