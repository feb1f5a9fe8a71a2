"""scheduler.Clock against the test Redis: a late or coalesced wake-up still ticks the slots it passed."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

import scheduler
from pipeline.schedule import Schedule

START = dt.datetime(2027, 4, 4, 2, 59, 40, tzinfo=dt.UTC)
SECONDS = dt.timedelta(seconds=1)


@pytest.fixture
def clock(redis_client):
    return scheduler.Clock(schedule=Schedule("*/10 * * * * *", "America/Santiago"), stopping=threading.Event())


def test_the_first_tick_after_a_start_is_the_slot_now_only(clock):
    assert clock._due_slots(START + 25 * SECONDS) == [START + 20 * SECONDS]


def test_a_late_wake_up_ticks_the_slots_it_passed_across_the_clock_change(clock, redis_client):
    clock.last_slot = START + 10 * SECONDS  # 02:59:50Z; the change is at 03:00:00Z
    due = clock._due_slots(START + 31 * SECONDS)
    assert due == [START + 20 * SECONDS, START + 30 * SECONDS]
    clock._tick(due, seconds=5)
    keys = sorted(k.decode() for k in redis_client.keys("invoicemail:tick:*"))
    assert keys == ["invoicemail:tick:2027-04-04T03:00:00+00:00", "invoicemail:tick:2027-04-04T03:00:10+00:00"]
    assert clock.last_slot == START + 30 * SECONDS
    assert redis_client.llen("dramatiq:default") == 2


def test_a_long_pause_sends_a_few_late_slots_not_all_of_them(clock):
    clock.last_slot = START
    due = clock._due_slots(START + dt.timedelta(hours=2))
    assert len(due) == scheduler.MAX_LATE_SLOTS + 1 and due[-1] == START + dt.timedelta(hours=2)
