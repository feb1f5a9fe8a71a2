"""The clock: one tick per schedule slot, nothing else. Does not load Django.

Run one per deployment; a second replica is harmless because every slot is claimed in
Redis with SET NX before its tick is sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from dramatiq import Message

from pipeline import config, locks, logs
from pipeline import heartbeat as liveness
from pipeline.broker import build_broker
from pipeline.deadline import run_with_deadline
from pipeline.schedule import Schedule, SlotTrigger, slot_key

logger = logging.getLogger("scheduler")

#: How often the scheduler proves it is alive, and how long that proof lasts.
HEARTBEAT_SECONDS = 30
HEARTBEAT_TTL_SECONDS = 120
#: While Redis is down, a slot's tick is retried this often, until the slot is nearly over.
RETRY_SECONDS = 5
#: A tick that fires this late (the process was paused) still runs; later ones are coalesced.
MISFIRE_GRACE_SECONDS = 300
#: A tick that comes late also sends the slots it passed without one, this many at the most.
MAX_LATE_SLOTS = 2
#: The heartbeat, and the goodbye at stop, give up after this long (a Redis that never answers).
SMALL_JOB_SECONDS = 10


class Clock:
    def __init__(self, *, schedule: Schedule, stopping: threading.Event) -> None:
        self.schedule = schedule
        self.stopping = stopping
        self.broker = build_broker(with_django=False)
        self.redis = locks.redis_client()
        self.unfinished_ticks = 0
        self.last_slot: dt.datetime | None = None  # the latest slot known ticked, by us or a replica

    def send_tick(self, *, slot: str) -> bool:
        """Send one tick for `slot` unless another scheduler did; True when this one sent it."""
        if not locks.claim_slot(self.redis, slot):
            logger.info("slot %s already ticked by another scheduler", slot)
            return False
        try:
            self.broker.enqueue(
                Message(queue_name=config.DEFAULT_QUEUE, actor_name="tick", args=(), kwargs={}, options={})
            )
        except Exception:
            self.redis.delete(locks.key("tick", slot))
            raise
        self.redis.set(locks.key("scheduler", "last_tick"), dt.datetime.now(dt.UTC).isoformat())
        logger.info("tick sent for slot %s", slot)
        return True

    def scheduled_tick(self) -> None:
        """The tick of the slot now, in a thread of its own that may take until the next slot is near.

        Whatever the tick does (a Redis that never answers), the clock goes on: the next slot gets
        its own tick, and a stop is never kept waiting.
        """
        now = dt.datetime.now(dt.UTC)
        due = self._due_slots(now)
        seconds = self._seconds_left(due[-1], now)
        key = ", ".join(slot_key(slot) for slot in due)
        if not run_with_deadline(
            lambda: self._tick(due, seconds), seconds=seconds, stopping=self.stopping, name=f"tick {key}"
        ):
            if self.stopping.is_set():
                logger.warning("stopping: the tick for slot %s had not finished", key)
            else:
                logger.error(
                    "the tick for slot %s did not finish within %.0f s; the next slot gets its own", key, seconds
                )
            self._count_unfinished()

    def _due_slots(self, now: dt.datetime) -> list[dt.datetime]:
        """The slot now, after the slots this scheduler passed without a tick (a starved or late
        wake-up, whose runs APScheduler coalesces), MAX_LATE_SLOTS of them at the most."""
        due = [self.schedule.slot_at(now)]
        while self.last_slot is not None and len(due) <= MAX_LATE_SLOTS:
            previous = self.schedule.slot_at(due[-1] - dt.timedelta(microseconds=1))
            if previous <= self.last_slot:
                break
            due.append(previous)
        return due[::-1]

    def _seconds_left(self, slot: dt.datetime, now: dt.datetime) -> float:
        """Until shortly before the following slot, so that its own tick is never refused as overlapping."""
        following = self.schedule.next_after(slot)
        if following is None:
            return 60.0
        gap = (following - slot).total_seconds()
        return max(0.5, (following - now).total_seconds() - min(RETRY_SECONDS, gap / 4))

    def _tick(self, slots: list[dt.datetime], seconds: float) -> None:
        """Send the ticks in order, retrying while Redis is away and the slot leaves time for another try."""
        deadline = time.monotonic() + seconds
        for slot in slots:
            self._tick_one(slot, deadline)

    def _tick_one(self, slot: dt.datetime, deadline: float) -> None:
        key = slot_key(slot)
        while not self.stopping.is_set():
            try:
                self.send_tick(slot=key)
                self.last_slot = max(slot, self.last_slot or slot)
                return
            except Exception as exc:  # Redis down: keep the clock alive and try again
                if deadline - time.monotonic() <= RETRY_SECONDS:
                    logger.error("cannot reach Redis for slot %s (%s): slot missed", key, exc)
                    return
                logger.warning("cannot reach Redis for slot %s (%s); retrying in %ss", key, exc, RETRY_SECONDS)
                self.stopping.wait(RETRY_SECONDS)

    def _count_unfinished(self) -> None:
        """Logged, and counted where the health check and pipeline_status read it, without waiting on Redis."""
        self.unfinished_ticks += 1
        logger.error("unfinished ticks since this scheduler started: %d", self.unfinished_ticks)
        counter = locks.key("scheduler", "unfinished_ticks")
        threading.Thread(target=self._incr_quietly, args=(counter,), name="count unfinished tick", daemon=True).start()

    def _incr_quietly(self, counter: str) -> None:
        try:
            self.redis.incr(counter)
        except Exception as exc:
            logger.warning("unfinished tick not counted in Redis: %s", exc)

    def startup_tick(self) -> None:
        try:
            self.send_tick(slot=f"startup-{os.getpid()}-{time.time():.0f}")
        except Exception as exc:
            logger.warning("start-up tick not sent: %s", exc)

    def heartbeat(self) -> None:
        if not run_with_deadline(self._beat, seconds=SMALL_JOB_SECONDS, stopping=self.stopping, name="heartbeat"):
            logger.warning("heartbeat not written within %s s", SMALL_JOB_SECONDS)

    def _beat(self) -> None:
        try:
            liveness.beat_file("scheduler")  # the liveness probe's, on this pod's disk: it must not wait for Redis
        except OSError as exc:
            logger.warning("heartbeat file not written: %s", exc)
        try:
            self.redis.set(locks.key("scheduler", "heartbeat"), f"{time.time():.0f}", ex=HEARTBEAT_TTL_SECONDS)
            # This replica's own key too: with two replicas, the shared key cannot tell a pod it is dead.
            liveness.beat(self.redis, "scheduler", ttl=HEARTBEAT_TTL_SECONDS)
        except Exception as exc:
            logger.warning("heartbeat not written: %s", exc)

    def forget_heartbeat(self) -> None:
        """Stopped: this replica's liveness check (python -m pipeline.heartbeat scheduler) fails from now on."""

        def forget() -> None:
            try:
                liveness.forget_file("scheduler")
                liveness.forget(self.redis, "scheduler")
            except Exception as exc:
                logger.warning("heartbeat not removed: %s", exc)

        run_with_deadline(forget, seconds=SMALL_JOB_SECONDS / 5, stopping=threading.Event(), name="forget heartbeat")


def main() -> int:
    logs.configure()  # LOG_FORMAT: plain or json lines (pipeline/logs.py)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per heartbeat is noise
    config.load_local_env()
    stopping = threading.Event()
    try:
        clock = Clock(schedule=Schedule.from_settings(), stopping=stopping)
    except config.ConfigError as exc:  # a setting to fix: one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # APScheduler keeps and compares its fire times in UTC: the schedule's trigger hands it instants only.
    scheduler = BlockingScheduler(
        timezone=dt.UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
    )
    scheduler.add_job(clock.scheduled_tick, SlotTrigger(clock.schedule), id="tick")
    scheduler.add_job(
        clock.heartbeat, "interval", seconds=HEARTBEAT_SECONDS, id="heartbeat", next_run_time=dt.datetime.now(dt.UTC)
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %s: stopping the scheduler", signal.Signals(signum).name)
        stopping.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if config.get("SCHEDULER_TICK_ON_START"):
        clock.startup_tick()
    following = clock.schedule.next_after(dt.datetime.now(dt.UTC))
    logger.info(
        "scheduler started: cron %r in %s, next tick %s",
        clock.schedule.expression,
        clock.schedule.zone.key,
        following.astimezone(clock.schedule.zone).isoformat() if following else "never",
    )
    scheduler.start()
    clock.forget_heartbeat()
    logger.info("scheduler stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
