"""The pipeline's health for a PaaS check or an uptime monitor (`/health/pipeline`).

Unhealthy (503) when the scheduler missed two slots in a row, when no worker process has a fresh
heartbeat, when a worker process is stuck (every thread busy past its time limit, pipeline/heartbeat.py),
when dead letters pile up (`HEALTH_MAX_DEAD_LETTERS`), or when Redis or the database
cannot be read. The rest (queue depths, last run per mailbox) is reported, not judged.
"""

from __future__ import annotations

import datetime as dt
import time

from django.db.models import OuterRef, Subquery

from pipeline import config, heartbeat, locks
from pipeline.queues import queue_stats
from pipeline.schedule import Schedule

from ..models import FetchRun, Mailbox
from .access import limit_to_mailboxes

#: Slots missed in a row before the scheduler counts as down.
MISSED_SLOTS_LIMIT = 2
#: A slot's tick may land this late (Redis retries, a busy host) before it counts as missed.
SLOT_GRACE = dt.timedelta(minutes=2)


def dead_letter_limit() -> int:
    return config.get("HEALTH_MAX_DEAD_LETTERS")


def _parse_time(raw: bytes | str | None) -> dt.datetime | None:
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else raw)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def worker_heartbeats(client) -> list[dict]:
    """Every worker process with a heartbeat in Redis (keys expire 60 s after the last beat).

    `busy_seconds` says how long each worker thread has been on its message (None: idle);
    `stuck` that every one is past its time limit, with the probe's default grace.
    """
    keys = sorted(client.scan_iter(match=locks.key("worker", "*", "heartbeat"), count=1000))
    now = time.time()
    beats = []
    for key, value in zip(keys, client.mget(keys) if keys else [], strict=True):
        found = None if value is None else heartbeat.Beat.decode(value)
        if found is None:
            continue
        parts = (key.decode() if isinstance(key, bytes) else key).split(":")
        busy = [None if t.busy_since is None else round(now - t.busy_since, 1) for t in found.threads]
        beats.append(
            {
                "host": ":".join(parts[2:-2]),
                "pid": parts[-2],
                "age_seconds": round(now - found.at, 1),
                "busy_seconds": busy,
                "stuck": found.stuck(now=now),
            }
        )
    return beats


def scheduler_state(client, *, now: dt.datetime) -> dict:
    schedule = Schedule.from_settings()
    last_tick = _parse_time(client.get(locks.key("scheduler", "last_tick")))
    alive = bool(client.exists(locks.key("scheduler", "heartbeat")))
    missed = schedule.missed_slots(since=last_tick, now=now, grace=SLOT_GRACE) if last_tick else None
    next_tick = schedule.next_after(now)
    return {
        "cron": schedule.expression,
        "timezone": schedule.zone.key,
        "every_seconds": schedule.slot_seconds(now=now),
        "next_tick": next_tick.isoformat() if next_tick else None,
        "unfinished_ticks": int(client.get(locks.key("scheduler", "unfinished_ticks")) or 0),
        "last_tick": last_tick.isoformat() if last_tick else None,
        "last_tick_age_seconds": round((now - last_tick).total_seconds(), 1) if last_tick else None,
        "missed_slots": missed,
        "heartbeat": alive,
    }


def last_runs(*, mailbox_ids: set[int] | None = None) -> list[dict]:
    """The latest run of every active mailbox (of `mailbox_ids` when given)."""
    latest = FetchRun.objects.filter(mailbox=OuterRef("pk")).order_by("-created_at")
    active = limit_to_mailboxes(Mailbox.objects.filter(active=True), mailbox_ids, mailbox_field="pk")
    mailboxes = active.annotate(run_id=Subquery(latest.values("pk")[:1]))
    runs = FetchRun.objects.in_bulk([m.run_id for m in mailboxes if m.run_id])
    now = dt.datetime.now(dt.UTC)
    answer = []
    for mailbox in mailboxes:
        run = runs.get(mailbox.run_id)
        answer.append(
            {
                "mailbox": mailbox.name,
                "last_run": None
                if run is None
                else {
                    "id": run.pk,
                    "status": run.status,
                    "trigger": run.trigger,
                    "created_at": run.created_at.isoformat(),
                    "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                    "age_seconds": round((now - run.created_at).total_seconds(), 1),
                    "attachments_failed": run.attachments_failed,
                    "messages_failed": run.messages_failed,
                },
            }
        )
    return answer


def pipeline_health(
    *, client=None, now: dt.datetime | None = None, mailbox_ids: set[int] | None = None
) -> tuple[bool, dict]:
    """(healthy, the report).

    With `mailbox_ids`, the report for a user limited to those mailboxes: their last runs, and
    nothing counted over every mailbox (queue depths, dead letters), which are not judged either.
    """
    client = client or locks.shared_client()
    now = now or dt.datetime.now(dt.UTC)
    problems: list[str] = []
    report: dict = {"checked_at": now.isoformat()}
    try:
        report["queues"] = queue_stats(client)
        report["scheduler"] = scheduler = scheduler_state(client, now=now)
        report["workers"] = workers = worker_heartbeats(client)
    except Exception as exc:
        problems.append(f"redis unreadable: {type(exc).__name__}")
    else:
        if mailbox_ids is None:
            dead = sum(queue["dead"] for queue in report["queues"].values())
            report["dead_letters"] = {"count": dead, "limit": dead_letter_limit()}
            if dead >= dead_letter_limit():
                problems.append(f"{dead} dead letters (limit {dead_letter_limit()})")
        else:
            del report["queues"]
        if not workers:
            problems.append("no worker heartbeat")
        stuck = sum(1 for worker in workers if worker["stuck"])
        if stuck:
            problems.append(f"{stuck} worker process(es) stuck: every thread busy past its time limit")
        if scheduler["last_tick"] is None:
            if not scheduler["heartbeat"]:
                problems.append("the scheduler has never ticked and has no heartbeat")
        elif scheduler["missed_slots"] >= MISSED_SLOTS_LIMIT:
            problems.append(f"the scheduler missed {scheduler['missed_slots']} slots")
    try:
        report["mailboxes"] = last_runs(mailbox_ids=mailbox_ids)
    except Exception as exc:
        problems.append(f"database unreadable: {type(exc).__name__}")
    report["problems"] = problems
    report["status"] = "error" if problems else "ok"
    return not problems, report
