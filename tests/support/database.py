"""Look into the database of a stack of processes started by a test, through the ORM."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dj_database_url
from django.db import connections

ALIAS = "stack"


@contextmanager
def attached_database(url: str, alias: str = ALIAS) -> Iterator[str]:
    """Register `url` as an extra connection alias for the duration; use `.using(alias)`."""
    configured = connections.configure_settings({"default": {}, alias: dj_database_url.parse(url)})
    connections.settings[alias] = configured[alias]
    try:
        yield alias
    finally:
        if hasattr(connections._connections, alias):
            connections[alias].close()
            delattr(connections._connections, alias)
        del connections.settings[alias]
