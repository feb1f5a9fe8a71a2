"""The real scheduler.py: one tick per slot however many replicas run, and a clean stop."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
from apscheduler.triggers.cron import CronTrigger

from pipeline.schedule import Schedule, cron_trigger
from tests.support.processes import ProcfileProcess, wait_for

SANTIAGO = "America/Santiago"


def test_the_slot_at_a_moment_is_the_latest_fire_time_not_after_it_in_utc():
    schedule = Schedule("*/15 * * * *", SANTIAGO)
    now = dt.datetime(2026, 3, 4, 10, 44, 59, tzinfo=schedule.zone)
    assert schedule.slot_at(now) == now.replace(minute=30, second=0)
    assert schedule.slot_at(now.replace(minute=45, second=0)) == now.replace(minute=45, second=0)
    assert schedule.slot_at(now).tzinfo is dt.UTC


def test_six_fields_put_seconds_first_and_other_shapes_are_refused():
    assert isinstance(cron_trigger("*/5 * * * * *", SANTIAGO), CronTrigger)
    with pytest.raises(ValueError, match="5 fields"):
        cron_trigger("*/15 *", SANTIAGO)
    with pytest.raises(ValueError, match="not a time zone"):
        Schedule("*/15 * * * *", "Mars/Olympus_Mons")


@pytest.mark.slow
def test_two_schedulers_over_ten_slots_send_ten_ticks(tmp_path, redis_url, redis_client):
    env = dict(
        os.environ,
        REDIS_URL=redis_url,
        SCHEDULE_CRON="* * * * * *",
        SCHEDULER_TICK_ON_START="false",
        STATE_DIR=str(tmp_path / "state"),
    )
    schedulers = [ProcfileProcess("scheduler", env, tmp_path) for _ in range(2)]
    try:
        wait_for(
            lambda: redis_client.llen("dramatiq:default") >= 10, timeout=40, what="ten ticks", processes=schedulers
        )
        wait_for(
            lambda: len(redis_client.keys("invoicemail:tick:*")) == redis_client.llen("dramatiq:default"),
            timeout=10,
            interval=0.05,
            what="both replicas to finish the slot they are in",
            processes=schedulers,
        )
    finally:
        exit_codes = [s.stop() for s in schedulers]
    assert exit_codes == [0, 0], [s.log()[-2000:] for s in schedulers]

    slots = sorted(k.decode() for k in redis_client.keys("invoicemail:tick:*"))
    ticks = [
        json.loads(redis_client.hget("dramatiq:default.msgs", mid))
        for mid in redis_client.lrange("dramatiq:default", 0, -1)
    ]
    assert {t["actor_name"] for t in ticks} == {"tick"}
    assert len(ticks) == len(slots), "every slot was claimed by exactly one scheduler, which sent exactly one tick"
    logs = "".join(s.log() for s in schedulers)
    assert logs.count("tick sent for slot") == len(slots)
    assert "already ticked by another scheduler" in logs
    assert redis_client.exists("invoicemail:scheduler:heartbeat")
