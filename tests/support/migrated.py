"""A migrated SQLite database for a test's stack: the release runs once per test session, each test gets a copy.

The release (`python manage.py migrate`) costs about 4 s of CPU; a test that only needs the schema
copies the session's migrated file with SQLite's backup API (a consistent copy, WAL or not).
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

from tests.support.processes import run_procfile_once

_template: Path | None = None
_lock = threading.Lock()


def migrated_sqlite(path: Path, env: dict[str, str]) -> str:
    """A DATABASE_URL for `path`, a copy of a database the Procfile's release migrated (with `env`'s settings)."""
    source = sqlite3.connect(_migrated_template(env))
    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return f"sqlite:///{path}"


def _migrated_template(env: dict[str, str]) -> Path:
    global _template
    with _lock:
        if _template is None:
            folder = Path(tempfile.mkdtemp(prefix="migrated-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            template = folder / "template.sqlite3"
            run_procfile_once("release", dict(env, DATABASE_URL=f"sqlite:///{template}"))
            _template = template
        return _template
