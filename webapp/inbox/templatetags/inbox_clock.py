"""Filters for rows that arrive as JSON-ready dicts (the health report): a time in TIME_ZONE in the
pages' format, a mailbox read's status in words."""

from __future__ import annotations

import datetime as dt

from django import template

from webapp.formats.clock import local_time as _local_time
from webapp.inbox.models import FetchRun

register = template.Library()


@register.filter
def local_time(value: dt.datetime | str | None) -> str:
    """A datetime or an ISO 8601 text with its offset, as every page shows a time."""
    if not isinstance(value, str):
        return _local_time(value)
    try:
        return _local_time(dt.datetime.fromisoformat(value))
    except ValueError:
        return value


@register.filter
def read_status(value: str | None) -> str:
    """A FetchRun status value ("completed") as its label ("Completada")."""
    if value not in FetchRun.Status.values:
        return value or "-"
    return str(FetchRun.Status(value).label)
