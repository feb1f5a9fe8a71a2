"""The schedule across every real clock change of 2026-2035, checked against a brute-force oracle.

The oracle reads the rule in pipeline/schedule.py straight off the wall clock: every local minute
that matches the crontab is a slot at each instant it happens (twice in a repeated hour), and one
that never happens (clocks jump forward) is a slot at the instant it would have had on the old
offset. The schedule must give exactly those instants, in order, each once.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from zoneinfo import ZoneInfo

import pytest

from pipeline.schedule import MAX_COUNTED_SLOTS, Schedule, slot_key

UTC = dt.UTC
ZONES = ["America/Santiago", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Bogota"]
CRONS = ["*/15 * * * *", "0 * * * *", "30 0 * * *", "30 2 * * *", "*/7 * * * *"]
#: Each change is checked over this much time on either side.
WINDOW = dt.timedelta(hours=30)
MINUTE = dt.timedelta(minutes=1)


@functools.cache
def offset_changes(zone_name: str) -> tuple[dt.datetime, ...]:
    """Every instant of 2026-2035 at which the zone's UTC offset changes, to the minute."""
    zone = ZoneInfo(zone_name)

    def offset(instant: dt.datetime) -> dt.timedelta | None:
        return instant.astimezone(zone).utcoffset()

    changes = []
    hour = dt.datetime(2026, 1, 1, tzinfo=UTC)
    while hour.year < 2036:
        following = hour + dt.timedelta(hours=1)
        if offset(hour) != offset(following):
            low, high = hour, following  # bisect to the minute
            while high - low > MINUTE:
                middle = low + (high - low) / 2
                low, high = (middle, high) if offset(middle) == offset(low) else (low, middle)
            changes.append(high.replace(second=0, microsecond=0))
        hour = following
    return tuple(changes)


def _matches(expression: str, wall: dt.datetime) -> bool:
    minute, hour = expression.split()[:2]

    def field(spec: str, value: int) -> bool:
        if spec == "*":
            return True
        if spec.startswith("*/"):
            return value % int(spec[2:]) == 0
        return value == int(spec)

    return field(minute, wall.minute) and field(hour, wall.hour)


def expected_slots(expression: str, zone_name: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The oracle: slots in (start, end] by the documented rule, from the wall clock minute by minute."""
    zone = ZoneInfo(zone_name)
    wall = (start.astimezone(zone) - dt.timedelta(hours=3)).replace(tzinfo=None, second=0, microsecond=0)
    last_wall = (end.astimezone(zone) + dt.timedelta(hours=3)).replace(tzinfo=None)
    instants = set()
    while wall <= last_wall:
        if _matches(expression, wall):
            for fold in (0, 1):
                local = wall.replace(tzinfo=zone, fold=fold)
                instant = local.astimezone(UTC)
                exists = instant.astimezone(zone).replace(tzinfo=None) == wall
                if exists or fold == 0:  # a wall time that never happens: its old-offset instant
                    instants.add(instant)
        wall += MINUTE
    return sorted(t for t in instants if start < t <= end)


def cases():
    for zone in ZONES:
        changes = offset_changes(zone) or (dt.datetime(2027, 4, 4, 4, tzinfo=UTC),)  # no DST: any day
        for change in changes:
            for cron in CRONS:
                yield pytest.param(zone, cron, change, id=f"{zone}-{change:%Y%m%dT%H%M}Z-{cron}")


def test_the_zones_change_as_the_tz_database_says():
    santiago = offset_changes("America/Santiago")
    assert dt.datetime(2027, 4, 4, 3, tzinfo=UTC) in santiago  # 2027-04-04 00:00 -03 back to 23:00 -04
    assert len(santiago) == 20 and len(offset_changes("Europe/Berlin")) == 20
    assert len(offset_changes("Australia/Lord_Howe")) == 20  # a 30-minute change, twice a year
    assert offset_changes("America/Bogota") == ()


@pytest.mark.parametrize(("zone", "cron", "change"), list(cases()))
def test_every_slot_is_one_distinct_instant_in_order_per_match(zone, cron, change):
    schedule = Schedule(cron, zone)
    start, end = change - WINDOW, change + WINDOW
    slots = list(schedule.slots(after=start, until=end))
    assert slots == expected_slots(cron, zone, start, end)
    assert len({slot_key(slot) for slot in slots}) == len(slots)
    assert all(a < b for a, b in itertools.pairwise(slots))


@pytest.mark.parametrize(("zone", "cron", "change"), list(cases()))
def test_slot_at_next_and_missed_agree_with_the_oracle_around_the_change(zone, cron, change):
    schedule = Schedule(cron, zone)
    expected = expected_slots(cron, zone, change - WINDOW, change + WINDOW)
    probes = [change + k * dt.timedelta(minutes=23) + dt.timedelta(seconds=s) for k in range(-4, 5) for s in (0, 59)]
    for now in [*probes, change - dt.timedelta(microseconds=1), change]:
        at_or_before = [t for t in expected if t <= now]
        after = [t for t in expected if t > now]
        assert schedule.slot_at(now) == at_or_before[-1], now
        assert schedule.next_after(now) == after[0], now
        since = now - dt.timedelta(hours=3)
        grace = dt.timedelta(minutes=2)
        missed = [t for t in expected if since < t <= now - grace]
        assert schedule.missed_slots(since=since, now=now, grace=grace) == min(len(missed), MAX_COUNTED_SLOTS)


def test_the_santiago_april_change_reads_mail_every_fifteen_real_minutes():
    schedule = Schedule("*/15 * * * *", "America/Santiago")
    before = dt.datetime(2027, 4, 3, 23, 44, 55, tzinfo=ZoneInfo("America/Santiago"))
    slots = list(schedule.slots(after=before, until=before + dt.timedelta(hours=2)))
    assert [b - a for a, b in itertools.pairwise(slots)] == [dt.timedelta(minutes=15)] * (len(slots) - 1)
    local = [f"{slot.astimezone(schedule.zone):%H:%M%z}" for slot in slots[:6]]
    assert local == ["23:45-0300", "23:00-0400", "23:15-0400", "23:30-0400", "23:45-0400", "00:00-0400"]


def test_a_daily_time_in_the_berlin_gap_moves_forward_and_a_repeated_one_fires_twice():
    schedule = Schedule("30 2 * * *", "Europe/Berlin")
    spring = list(
        schedule.slots(after=dt.datetime(2027, 3, 27, tzinfo=UTC), until=dt.datetime(2027, 3, 29, tzinfo=UTC))
    )
    assert [f"{s.astimezone(schedule.zone):%d %H:%M%z}" for s in spring] == ["27 02:30+0100", "28 03:30+0200"]
    autumn = list(
        schedule.slots(after=dt.datetime(2027, 10, 30, 12, tzinfo=UTC), until=dt.datetime(2027, 11, 1, tzinfo=UTC))
    )
    assert [f"{s.astimezone(schedule.zone):%d %H:%M%z}" for s in autumn] == ["31 02:30+0200", "31 02:30+0100"]


def test_a_wall_clock_time_without_a_zone_is_refused():
    with pytest.raises(ValueError, match="without a zone"):
        Schedule("*/15 * * * *", "America/Santiago").next_after(dt.datetime(2027, 4, 3, 23, 45))  # noqa: DTZ001


def test_every_second_crontab_walks_within_its_step_limit():
    """Within three hours of a change each walk takes about 7,200 steps (two hours of seconds), under MAX_STEPS.

    A few walks across the change prove it: each costs the same wherever it starts (slot_at, whose
    lookback of a minute walks sixty times, adds nothing but time).
    """
    schedule = Schedule("* * * * * *", "America/Santiago")
    change = dt.datetime(2027, 4, 4, 3, tzinfo=UTC)
    assert schedule.next_after(change - dt.timedelta(milliseconds=500)) == change
    second = dt.timedelta(seconds=1)
    slots = list(schedule.slots(after=change - 2 * second, until=change + 2 * second))
    assert slots == [change - second, change, change + second, change + 2 * second]


@pytest.mark.parametrize("cron", CRONS)
def test_next_after_asks_the_crontab_a_bounded_number_of_times_even_inside_the_repeated_hour(cron, monkeypatch):
    schedule = Schedule(cron, "America/Santiago")
    calls = []
    real = schedule._wall_trigger

    class Counting:
        def get_next_fire_time(self, *args):
            calls.append(args)
            return real.get_next_fire_time(*args)

    monkeypatch.setattr(schedule, "_wall_trigger", Counting())
    change = dt.datetime(2027, 4, 4, 3, tzinfo=UTC)
    for minutes in range(-90, 91, 5):
        schedule._walls.clear()
        calls.clear()
        assert schedule.next_after(change + dt.timedelta(minutes=minutes)) is not None
        assert len(calls) <= 25, (minutes, len(calls))  # the matches in twice the offset's swing (1 h), and a few
