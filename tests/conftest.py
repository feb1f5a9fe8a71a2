"""The whole suite shares one real Redis server, started here before any test module is imported."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from pipeline.embedded_redis import EmbeddedRedis
from tests.support import needs

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


#: Modules that start `make run` in this checkout: a second terminal's commands find every one
#: running here (and its default port), so they never run beside each other.
_ONE_MAKE_RUN_AT_A_TIME = {"test_second_terminal", "test_web_serving", "test_idle_memory"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under `make test`'s parallel processes (pytest-xdist, --dist loadgroup) a module's tests run in
    one process, in order, sharing their module fixtures; the `make run` modules share one."""
    if not hasattr(config, "workerinput"):
        return
    for item in items:
        module = item.module.__name__.rpartition(".")[2]
        group = "make-run" if module in _ONE_MAKE_RUN_AT_A_TIME else item.module.__name__
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and needs.on_ci():
        # CI installs everything the README lists: a skip there hides a broken set-up.
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, where every test must run: {reason}"
    return report


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
