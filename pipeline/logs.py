"""Log lines for people (`LOG_FORMAT=plain`) or for a log pipeline (`LOG_FORMAT=json`, one object per line).

Plain Python (no Django) so that the scheduler, the worker, gunicorn and Django share it. Context
that belongs to every line of a unit of work (the actor, the Dramatiq message id, the run id, the
mailbox) lives in a contextvar: `bind()` around a block, or `add_context()` once the values are
known (pipeline/middleware/log_context.py clears it after each message). Each worker thread has
its own context, so two messages in flight never mix their fields.

    {"time": "2026-11-22T16:40:01.123Z", "level": "INFO", "logger": "pipeline.middleware.log_context",
     "message": "save_message done in 182 ms", "actor": "save_message", "message_id": "5f0c...",
     "mail_id": 42, "run_id": 7, "mailbox": "invoices", "duration_ms": 182.4, "outcome": "ok"}
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, Literal, TextIO

from . import config

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Never mutated in place: every change sets a new dict, so the shared default is a read-only one.
_CONTEXT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "invoicemail_log_context", default=MappingProxyType({})
)
#: Attributes every LogRecord has; anything else on a record came from `extra=` and is logged too.
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def log_format() -> str:
    """plain or json (LOG_FORMAT); anything else is an error, not a guess."""
    fmt: str = config.get("LOG_FORMAT")
    return fmt


def context() -> dict[str, Any]:
    return dict(_CONTEXT.get())


def add_context(**fields: object) -> None:
    """Add fields to every following line of this thread's unit of work (None values are left out)."""
    _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in fields.items() if v is not None}})


def clear_context() -> None:
    _CONTEXT.set({})


@contextmanager
def bind(**fields: object) -> Iterator[None]:
    """Fields on every line logged inside the block."""
    token = _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS and not k.startswith("_")}


def _access_fields(record: logging.LogRecord) -> dict[str, Any] | None:
    """gunicorn's access line: its atoms are the record's args."""
    atoms = record.args
    if record.name != "gunicorn.access" or not isinstance(atoms, Mapping):
        return None
    try:
        duration_ms = round(int(str(atoms["D"])) / 1000, 1)
    except (KeyError, TypeError, ValueError):
        duration_ms = None
    return {
        "message": f"{atoms.get('m')} {atoms.get('U')} {atoms.get('s')}",
        "remote": atoms.get("h"),
        "method": atoms.get("m"),
        "path": atoms.get("U"),
        "status": _int(atoms.get("s")),
        "bytes": _int(atoms.get("B")),
        "duration_ms": duration_ms,
        "user_agent": atoms.get("a"),
    }


def _int(value: object) -> object:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the context, `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
        }
        access = _access_fields(record)
        if access is not None:
            entry.update({k: v for k, v in access.items() if v not in (None, "-")})
        else:
            entry["message"] = record.getMessage()
        entry.update(_CONTEXT.get())
        entry.update(_extra(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """`time LEVEL logger: message [field=value ...]`: the context, readable in a terminal."""

    def __init__(
        self, fmt: str | None = None, datefmt: str | None = None, style: Literal["%", "{", "$"] = "%", **kwargs: Any
    ) -> None:
        super().__init__(fmt or PLAIN_FORMAT, datefmt, style, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {**_CONTEXT.get(), **_extra(record)}
        if not fields:
            return line
        first, newline, rest = line.partition("\n")
        suffix = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{first} [{suffix}]{newline}{rest}"


def formatter_class(fmt: str | None = None) -> type[logging.Formatter]:
    return JsonFormatter if (fmt or log_format()) == "json" else PlainFormatter


def configure(*, level: str | None = None, stream: TextIO | None = None) -> None:
    """Root logging for a process without Django (the scheduler): one handler, our format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter_class()())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level or config.get("LOG_LEVEL"))


def django_logging() -> dict[str, Any]:
    """settings.LOGGING: the same format for Django, the web's libraries and the worker's threads."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": f"{__name__}.{formatter_class().__name__}"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "default"}},
        "root": {"handlers": ["console"], "level": config.get("LOG_LEVEL")},
    }
