"""The clock's crontab, shared by the scheduler (which fires it) and the health check (which
checks that it did). Plain Python, no Django."""

from __future__ import annotations

import datetime as dt

from apscheduler.triggers.cron import CronTrigger

from . import config

#: The most slots `missed_slots` counts: past that, "many" is enough to know.
MAX_COUNTED_SLOTS = 100


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A standard five-field crontab, or six fields with seconds first."""
    fields = expression.split()
    if len(fields) == 5:
        return CronTrigger.from_crontab(expression, timezone=timezone)
    if len(fields) == 6:
        second, minute, hour, day, month, day_of_week = fields
        return CronTrigger(
            second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week, timezone=timezone
        )
    raise config.ConfigError(f"SCHEDULE_CRON={expression!r} needs 5 fields (or 6 with seconds first)")


#: How far back `current_slot` looks, widening until it finds a fire time.
_LOOKBACK = (dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(days=32))


def current_slot(trigger: CronTrigger, now: dt.datetime) -> dt.datetime:
    """The latest fire time of `trigger` at or before `now`: the slot a tick belongs to."""
    for window in _LOOKBACK:
        slot: dt.datetime | None = None
        fire = trigger.get_next_fire_time(None, now - window)
        while fire is not None and fire <= now:
            slot = fire
            fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(seconds=1))
        if slot is not None:
            return slot
    return now.replace(second=0, microsecond=0)


def missed_slots(trigger: CronTrigger, *, since: dt.datetime, now: dt.datetime, grace: dt.timedelta) -> int:
    """How many slots fired after `since` (the last tick) and are more than `grace` old at `now`."""
    count = 0
    fire = trigger.get_next_fire_time(None, since + dt.timedelta(microseconds=1))
    while fire is not None and fire <= now - grace and count < MAX_COUNTED_SLOTS:
        count += 1
        fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(seconds=1))
    return count


def slot_seconds(trigger: CronTrigger, *, now: dt.datetime) -> float | None:
    """The gap between the next two slots: what "every N seconds" the schedule means now."""
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + dt.timedelta(seconds=1)) if first else None
    return (second - first).total_seconds() if first and second else None
