"""The clock's crontab as a sequence of instants, shared by the scheduler (which fires it), the
health check (which counts missed slots) and the status pages (which show the next read).
Plain Python, no Django.

The crontab is read in a time zone (SCHEDULE_TIMEZONE), but every value here is an instant in
UTC: arithmetic and comparisons on local wall-clock datetimes go wrong across a clock change
(adding a timedelta drops `fold`; two datetimes with one tzinfo compare by wall time).

Across a clock change, a slot is every instant whose local time matches the crontab:
- a local time that happens twice (clocks go back) fires twice, once at each instant: with the
  default */15, a read every 15 real minutes straight through the repeated hour;
- a local time that does not exist (clocks go forward) fires at the instant it would have had
  on the old offset, i.e. moved forward by the size of the jump: 02:30 in Berlin's March gap
  fires at 03:30 CEST. When that instant is a slot already, it is one slot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from . import config

UTC = dt.UTC
#: The most slots `missed_slots` counts: past that, "many" is enough to know.
MAX_COUNTED_SLOTS = 100
#: No walk over slots takes more steps than this; a crontab that would is refused loudly.
MAX_STEPS = 10_000
#: How far back `slot_at` looks, widening until it finds a slot (a monthly crontab needs 32 days).
_LOOKBACK = (dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(days=32))


#: Clock changes move the offset by two hours at the most (half an hour on Lord Howe): offsets are
#: sampled this far around an instant, this often, to see whether one is near.
_SWING_STEP = dt.timedelta(minutes=30)
_SWING_STEPS = 6
_TICK = dt.timedelta(microseconds=1)
#: Wall-clock matches remembered per schedule (each a few hundred bytes).
_WALL_CACHE_SIZE = 4096


class ScheduleError(RuntimeError):
    """A walk over slots did not end within MAX_STEPS: a bug, never a reason to spin."""


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


def _instant(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} is a wall-clock time without a zone: give an instant")
    return moment.astimezone(UTC)


class Schedule:
    """A crontab read in `timezone`, seen as instants: every method takes and returns UTC."""

    def __init__(self, expression: str, timezone: str) -> None:
        self.expression = expression
        try:
            self.zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise config.ConfigError(f"{timezone!r} is not a time zone (e.g. America/Santiago)") from None
        self.trigger = cron_trigger(expression, timezone)
        # The same crontab over the wall clock alone: a plain sequence, with no gap and no fold.
        self._wall_trigger = cron_trigger(expression, "UTC")
        self._walls: dict[dt.datetime, dt.datetime | None] = {}  # a walk asks for the same matches again

    @classmethod
    def from_settings(cls) -> Schedule:
        """SCHEDULE_CRON in SCHEDULE_TIMEZONE (TIME_ZONE when unset)."""
        return cls(config.get("SCHEDULE_CRON"), config.get("SCHEDULE_TIMEZONE") or config.get("TIME_ZONE"))

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        """The first slot strictly after `moment`.

        Walks the crontab's wall-clock matches and turns each into its instants. Near a clock
        change, a later wall time can be an earlier instant, so the walk starts and ends as far
        around as the offset moves there; elsewhere it looks at one or two matches.
        """
        now = _instant(moment)
        wall = self._next_wall(self._wall(now) - self._offset_swing(now) - _TICK)
        best: dt.datetime | None = None
        stop_after: dt.datetime | None = None
        for _ in range(MAX_STEPS):
            if wall is None or (stop_after is not None and wall > stop_after):
                return best
            for instant in self._instants(wall):
                if instant > now and (best is None or instant < best):
                    best, stop_after = instant, wall + self._offset_swing(instant)
            wall = self._next_wall(wall)
        raise ScheduleError(f"{self.expression!r}: no slot after {now.isoformat()} within {MAX_STEPS} steps")

    def _wall(self, instant: dt.datetime) -> dt.datetime:
        return instant.astimezone(self.zone).replace(tzinfo=None)

    def _next_wall(self, wall: dt.datetime) -> dt.datetime | None:
        """The first wall-clock time after `wall` that the crontab matches (naive)."""
        if wall not in self._walls:
            if len(self._walls) >= _WALL_CACHE_SIZE:
                self._walls.clear()
            as_utc = wall.replace(tzinfo=UTC)
            fire = self._wall_trigger.get_next_fire_time(as_utc, as_utc)
            self._walls[wall] = None if fire is None else fire.replace(tzinfo=None)
        return self._walls[wall]

    def _instants(self, wall: dt.datetime) -> set[dt.datetime]:
        """When `wall` happens: once, twice (clocks went back), or, if never, at its old-offset instant."""
        instants = set()
        for fold in (0, 1):
            instant = wall.replace(tzinfo=self.zone, fold=fold).astimezone(UTC)
            if fold == 0 or self._wall(instant) == wall:
                instants.add(instant)
        return instants

    def _offset_swing(self, instant: dt.datetime) -> dt.timedelta:
        """How far the zone's offset moves within three hours of `instant` (zero away from a change)."""
        offsets = [
            (instant + step * _SWING_STEP).astimezone(self.zone).utcoffset() or dt.timedelta(0)
            for step in range(-_SWING_STEPS, _SWING_STEPS + 1)
        ]
        return max(offsets) - min(offsets)

    def first_at_or_after(self, moment: dt.datetime) -> dt.datetime | None:
        return self.next_after(_instant(moment) - dt.timedelta(microseconds=1))

    def slots(self, *, after: dt.datetime, until: dt.datetime, limit: int = MAX_STEPS) -> Iterator[dt.datetime]:
        """The slots in (after, until], in order, at most `limit` of them."""
        end = _instant(until)
        fire = self.next_after(after)
        for _ in range(min(limit, MAX_STEPS)):
            if fire is None or fire > end:
                return
            yield fire
            following = self.next_after(fire)
            if following is not None and following <= fire:
                raise ScheduleError(f"{self.expression!r} went back from {fire.isoformat()} to {following.isoformat()}")
            fire = following
        if limit >= MAX_STEPS and fire is not None and fire <= end:
            raise ScheduleError(f"{self.expression!r}: more than {MAX_STEPS} slots up to {end.isoformat()}")

    def slot_at(self, moment: dt.datetime) -> dt.datetime:
        """The latest slot at or before `moment`: the slot a tick at `moment` belongs to."""
        now = _instant(moment)
        for window in _LOOKBACK:
            recent = list(self.slots(after=now - window, until=now))
            if recent:
                return recent[-1]
        return now.replace(second=0, microsecond=0)

    def missed_slots(self, *, since: dt.datetime, now: dt.datetime, grace: dt.timedelta) -> int:
        """How many slots came after `since` (the last tick) and are more than `grace` old at `now`."""
        return sum(1 for _ in self.slots(after=since, until=_instant(now) - grace, limit=MAX_COUNTED_SLOTS))

    def slot_seconds(self, *, now: dt.datetime) -> float | None:
        """The gap between the next two slots: what "every N seconds" the schedule means now."""
        first = self.first_at_or_after(now)
        second = self.next_after(first) if first else None
        return (second - first).total_seconds() if first and second else None


class SlotTrigger(BaseTrigger):
    """The schedule as an APScheduler trigger: the scheduler sees only UTC instants from it."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
        if previous_fire_time is None:
            return self.schedule.first_at_or_after(now)
        return self.schedule.next_after(previous_fire_time)

    def __str__(self) -> str:
        return f"cron[{self.schedule.expression!r} in {self.schedule.zone.key}]"


def slot_key(slot: dt.datetime) -> str:
    """A slot's identity: one instant, whatever its local spelling (the Redis key of its tick)."""
    return _instant(slot).isoformat()
