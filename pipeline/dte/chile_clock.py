"""Chile's clock, for the instants the SII's files name: light (no lxml), so the parent of a sandbox may
unpickle an answer's FixedOffset without loading a parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

#: The clock of an SII timestamp (TmstCesion, TmstFirma*) that names no offset.
CHILE = ZoneInfo("America/Santiago")


@dataclass(frozen=True)
class FixedOffset(tzinfo):
    """A fixed offset from UTC, as datetime.timezone is; a sandbox answer may hold this one (a dataclass of
    ours), not datetime.timezone, which its unpickler does not allow (pipeline/sandbox.py)."""

    offset: timedelta

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return self.offset

    def dst(self, dt: datetime | None) -> None:
        return None

    def tzname(self, dt: datetime | None) -> str:
        minutes = int(self.offset.total_seconds()) // 60
        return f"UTC{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    def __getinitargs__(self) -> tuple[timedelta]:  # how tzinfo pickles
        return (self.offset,)
