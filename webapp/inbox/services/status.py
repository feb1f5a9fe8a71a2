"""The pipeline's state in one dictionary: for pipeline_status, health checks and the dashboard."""

from __future__ import annotations

import datetime as dt

from pipeline import locks
from pipeline.queues import queue_stats
from pipeline.schedule import Schedule

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
            "last_tick": last_tick or None,
            "alive": bool(client.exists(locks.key("scheduler", "heartbeat"))),
            "next_tick": following.isoformat() if following else None,
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
            "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
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
