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
import time
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from dramatiq import Message

from pipeline import config, locks, logs
from pipeline import heartbeat as liveness
from pipeline.broker import build_broker
from pipeline.schedule import cron_trigger, current_slot

logger = logging.getLogger("scheduler")

#: How often the scheduler proves it is alive, and how long that proof lasts.
HEARTBEAT_SECONDS = 30
HEARTBEAT_TTL_SECONDS = 120
#: While Redis is down, a slot's tick is retried this often, until the slot is nearly over.
RETRY_SECONDS = 5
#: A tick that fires this late (the process was paused) still runs; later ones are coalesced.
MISFIRE_GRACE_SECONDS = 300


class Clock:
    def __init__(self, *, cron: str, timezone: str):
        self.trigger = cron_trigger(cron, timezone)
        self.broker = build_broker(with_django=False)
        self.redis = locks.redis_client()

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
        """Tick for the current slot, retrying while Redis is away, until the next slot is near."""
        now = dt.datetime.now(self.trigger.timezone)
        slot = current_slot(self.trigger, now)
        following = self.trigger.get_next_fire_time(slot, slot + dt.timedelta(seconds=1))
        deadline = time.monotonic() + max(
            RETRY_SECONDS, ((following - now).total_seconds() if following else 60) - RETRY_SECONDS
        )
        while True:
            try:
                self.send_tick(slot=slot.isoformat())
                return
            except Exception as exc:  # Redis down: keep the clock alive and try again
                if time.monotonic() >= deadline:
                    logger.error("slot %s missed: Redis did not answer (%s)", slot.isoformat(), exc)
                    return
                logger.warning(
                    "cannot reach Redis for slot %s (%s); retrying in %ss", slot.isoformat(), exc, RETRY_SECONDS
                )
                time.sleep(RETRY_SECONDS)

    def startup_tick(self) -> None:
        try:
            self.send_tick(slot=f"startup-{os.getpid()}-{time.time():.0f}")
        except Exception as exc:
            logger.warning("start-up tick not sent: %s", exc)

    def heartbeat(self) -> None:
        try:
            self.redis.set(locks.key("scheduler", "heartbeat"), f"{time.time():.0f}", ex=HEARTBEAT_TTL_SECONDS)
            # This replica's own key too: with two replicas, the shared key cannot tell a pod it is dead.
            liveness.beat(self.redis, "scheduler", ttl=HEARTBEAT_TTL_SECONDS)
        except Exception as exc:
            logger.warning("heartbeat not written: %s", exc)

    def forget_heartbeat(self) -> None:
        """Stopped: this replica's liveness check (python -m pipeline.heartbeat scheduler) fails from now on."""
        try:
            liveness.forget(self.redis, "scheduler")
        except Exception as exc:
            logger.warning("heartbeat not removed: %s", exc)


def main() -> int:
    logs.configure()  # LOG_FORMAT: plain or json lines (pipeline/logs.py)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per heartbeat is noise
    config.load_local_env()
    clock = Clock(cron=config.SCHEDULE_CRON, timezone=config.get("TIME_ZONE"))
    scheduler = BlockingScheduler(
        timezone=clock.trigger.timezone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
    )
    scheduler.add_job(clock.scheduled_tick, clock.trigger, id="tick")
    scheduler.add_job(
        clock.heartbeat,
        "interval",
        seconds=HEARTBEAT_SECONDS,
        id="heartbeat",
        next_run_time=dt.datetime.now(clock.trigger.timezone),
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal %s: stopping the scheduler", signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if config.get("SCHEDULER_TICK_ON_START"):
        clock.startup_tick()
    logger.info(
        "scheduler started: cron %r, next tick %s",
        config.SCHEDULE_CRON,
        clock.trigger.get_next_fire_time(None, dt.datetime.now(clock.trigger.timezone)),
    )
    scheduler.start()
    clock.forget_heartbeat()
    logger.info("scheduler stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
