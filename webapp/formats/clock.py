"""One clock: every time a person reads is in TIME_ZONE; every time a program reads says its zone."""

from __future__ import annotations

import datetime as dt

from django.utils import formats, timezone


def local_time(moment: dt.datetime | None, empty: str = "-") -> str:
    """`moment` as the pages show a time: in TIME_ZONE, in the active language's DATETIME_FORMAT."""
    if moment is None:
        return empty
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def iso_local(moment: dt.datetime | None) -> str | None:
    """`moment` for machine output: ISO 8601 in TIME_ZONE with its offset (2026-12-02T11:30:00-03:00)."""
    return timezone.localtime(moment).isoformat() if moment is not None else None
