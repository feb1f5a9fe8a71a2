"""Look into the database of a stack of processes started by a test, through the ORM."""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import dj_database_url
from django.db import connections

from tests.support.processes import run_procfile_once

ALIAS = "stack"
_migrated_sqlite: Path | None = None


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


def released_sqlite(env: dict[str, str]) -> None:
    """Give env's SQLite database what the Procfile's `release` makes: a copy of the database one real
    `release` migrated this session, for tests that need the schema and do not test migrating
    (migrate costs seconds of CPU each time)."""
    global _migrated_sqlite
    database = dj_database_url.parse(env["DATABASE_URL"])
    assert database["ENGINE"] == "django.db.backends.sqlite3", f"not SQLite: {env['DATABASE_URL']}"
    target = database["NAME"]
    if _migrated_sqlite is None:
        folder = Path(tempfile.mkdtemp(prefix="invoicemail-released-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        template = folder / "db.sqlite3"
        run_procfile_once("release", dict(env, DATABASE_URL=f"sqlite:///{template}"))
        _migrated_sqlite = template
    with closing(sqlite3.connect(_migrated_sqlite)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
