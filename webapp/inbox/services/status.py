"""The pipeline's state in one dictionary: for pipeline_status, health checks and the dashboard.

Times are ISO 8601 in TIME_ZONE with their offset (2026-12-02T11:30:00-03:00).
"""

from __future__ import annotations

import datetime as dt

from pipeline import locks
from pipeline.queues import queue_stats
from pipeline.schedule import Schedule
from webapp.formats.clock import iso_local

from ..models import FetchRun

RECENT_RUNS = 10


def pipeline_status() -> dict:
    status: dict = {"redis": {"ok": True, "error": ""}, "queues": {}, "scheduler": {"last_tick": None, "alive": False}}
    client = locks.shared_client()
    try:
        status["queues"] = queue_stats(client)
        last_tick = client.get(locks.key("scheduler", "last_tick"))
        if isinstance(last_tick, bytes):
            last_tick = last_tick.decode()
        following = Schedule.from_settings().next_after(dt.datetime.now(dt.UTC))
        status["scheduler"] = {
            "last_tick": _iso_local_text(last_tick),
            "alive": bool(client.exists(locks.key("scheduler", "heartbeat"))),
            "next_tick": iso_local(following),
            "unfinished_ticks": int(client.get(locks.key("scheduler", "unfinished_ticks")) or 0),
        }
    except Exception as exc:  # Redis down is a state to report, not a crash
        status["redis"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    status["recent_runs"] = [
        {
            "id": run.pk,
            "mailbox": run.mailbox.name,
            "trigger": run.trigger,
            "status": run.status,
            "created_at": iso_local(run.created_at),
            "finished_at": iso_local(run.finished_at),
            "messages_seen": run.messages_seen,
            "messages_new": run.messages_new,
            "attachments_stored": run.attachments_stored,
            "attachments_deduplicated": run.attachments_deduplicated,
            "attachments_failed": run.attachments_failed,
            "error": run.error,
        }
        for run in FetchRun.objects.select_related("mailbox")[:RECENT_RUNS]
    ]
    return status


def _iso_local_text(text: str | None) -> str | None:
    """An ISO 8601 text from Redis, moved to TIME_ZONE; as it was when it does not read as one."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    return iso_local(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC))
