"""The pipeline's counters for Prometheus (`/metrics` on the web), computed at scrape time from the
database (the source of truth: nothing is lost when a process restarts) and from Redis.

Dramatiq's own per-actor counters (messages, errors, retries, durations) come from the worker's
exposition server when WORKER_PROMETHEUS=true (pipeline/middleware/prometheus.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from django.db.models import Count, F, Max, Q, Sum

from pipeline import locks
from pipeline.queues import queue_stats

from ..models import Attachment, Blob, FetchRun, Mailbox, MailMessage
from .health import _parse_time, worker_heartbeats

if TYPE_CHECKING:
    from prometheus_client.core import Metric

PREFIX = "invoicemail"


class PipelineCollector:
    """A prometheus_client collector: every metric is read anew at each scrape."""

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

        messages = GaugeMetricFamily(
            f"{PREFIX}_messages", "Mail messages by mailbox and status.", labels=["mailbox", "status"]
        )
        for message_row in MailMessage.objects.values("mailbox__name", "status").annotate(n=Count("pk")).order_by():
            messages.add_metric([message_row["mailbox__name"], message_row["status"]], message_row["n"])
        yield messages

        attachments = GaugeMetricFamily(f"{PREFIX}_attachments", "Attachments by status.", labels=["status"])
        previews = GaugeMetricFamily(f"{PREFIX}_previews", "Attachment previews by status.", labels=["status"])
        for attachment_row in Attachment.objects.values("status").annotate(n=Count("pk")).order_by():
            attachments.add_metric([attachment_row["status"]], attachment_row["n"])
        for preview_row in Attachment.objects.values("preview_status").annotate(n=Count("pk")).order_by():
            previews.add_metric([preview_row["preview_status"]], preview_row["n"])
        yield attachments
        yield previews

        blobs = Blob.objects.aggregate(n=Count("pk"), size=Sum("size"))
        yield CounterMetricFamily(
            f"{PREFIX}_stored_objects", "Distinct stored objects (one per content).", value=blobs["n"] or 0
        )
        yield CounterMetricFamily(
            f"{PREFIX}_stored_bytes", "Bytes in storage, each content counted once.", value=blobs["size"] or 0
        )

        runs = GaugeMetricFamily(
            f"{PREFIX}_fetch_runs", "Fetch runs by mailbox and status.", labels=["mailbox", "status"]
        )
        for run_row in FetchRun.objects.values("mailbox__name", "status").annotate(n=Count("pk")).order_by():
            runs.add_metric([run_row["mailbox__name"], run_row["status"]], run_row["n"])
        yield runs

        failures = CounterMetricFamily(
            f"{PREFIX}_failures", "Failed work recorded in runs, by kind.", labels=["mailbox", "kind"]
        )
        durations = SummaryMetricFamily(
            f"{PREFIX}_fetch_run_duration_seconds", "Duration of finished fetch runs.", labels=["mailbox"]
        )
        last_run = GaugeMetricFamily(
            f"{PREFIX}_last_run_timestamp_seconds", "When the latest run of a mailbox started.", labels=["mailbox"]
        )
        finished = Q(started_at__isnull=False, finished_at__isnull=False)
        # The sums' types depend on the database (a duration is a timedelta or microseconds).
        per_mailbox: dict[int, Mapping[str, Any]] = {
            row["mailbox"]: row
            for row in FetchRun.objects.values("mailbox")
            .annotate(
                failed_attachments=Sum("attachments_failed"),
                failed_messages=Sum("messages_failed"),
                finished=Count("pk", filter=finished),
                spent=Sum(F("finished_at") - F("started_at"), filter=finished),
                latest=Max("created_at"),
            )
            .order_by()
        }
        for pk, name in Mailbox.objects.order_by("name").values_list("pk", "name"):
            row = per_mailbox.get(pk, {})
            failures.add_metric([name, "attachment"], row.get("failed_attachments") or 0)
            failures.add_metric([name, "message"], row.get("failed_messages") or 0)
            total = row.get("spent")
            seconds = total.total_seconds() if isinstance(total, dt.timedelta) else (total or 0) / 1e6
            durations.add_metric([name], count_value=row.get("finished", 0), sum_value=seconds)
            if row.get("latest") is not None:
                last_run.add_metric([name], row["latest"].timestamp())
        yield failures
        yield durations
        yield last_run

        yield from self._redis()

    def _redis(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        client = locks.shared_client()
        up = GaugeMetricFamily(f"{PREFIX}_redis_up", "1 when Redis answered this scrape.")
        try:
            stats = queue_stats(client)
            workers = worker_heartbeats(client)
            last_tick = _parse_time(client.get(locks.key("scheduler", "last_tick")))
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        queue = GaugeMetricFamily(
            f"{PREFIX}_queue_messages", "Messages in Redis by queue and state.", labels=["queue", "state"]
        )
        for name, counts in stats.items():
            for state, value in counts.items():
                queue.add_metric([name, state], value)
        yield queue
        yield GaugeMetricFamily(
            f"{PREFIX}_dead_letters",
            "Dead-lettered messages (all queues).",
            value=sum(c["dead"] for c in stats.values()),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_worker_processes", "Worker processes with a fresh heartbeat.", value=len(workers)
        )
        if last_tick is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_scheduler_last_tick_timestamp_seconds",
                "When the scheduler last sent a tick.",
                value=last_tick.timestamp(),
            )


def render() -> tuple[bytes, str]:
    """(exposition text, content type)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
