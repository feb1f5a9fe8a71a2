"""`manage.py await_migrations`, the init containers' gate, against a real SQLite database and a real `migrate`."""

from __future__ import annotations

import pytest

from tests.support.processes import ProcfileProcess, manage, run_procfile_once, wait_for

pytestmark = [pytest.mark.slow]

#: A migration that `migrate sessions zero` unapplies and `migrate` applies again.
UNAPPLIED = "sessions.0001_initial"


def _env(tmp_path) -> dict[str, str]:
    return {
        "STATE_DIR": str(tmp_path / "state"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SECRET_KEY": "await-migrations-test-secret-key-0123456789-abcdefghijkl",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }


@pytest.fixture
def one_unapplied(tmp_path) -> dict[str, str]:
    env = _env(tmp_path)
    run_procfile_once("release", env)
    unapply = manage(env, "migrate", "sessions", "zero", "--noinput", check=False)
    assert unapply.returncode == 0, unapply.stderr
    return env


def test_it_waits_for_the_missing_migration_and_returns_once_migrate_ran(tmp_path, one_unapplied):
    waiting = ProcfileProcess(
        "await_migrations",
        one_unapplied,
        tmp_path,
        command="python manage.py await_migrations --timeout 300 --interval 0.2",
    )
    try:
        wait_for(
            lambda: f"1 unapplied migration(s), the first {UNAPPLIED}" in waiting.log(),
            timeout=60,
            what="await_migrations to say what it waits for",
            processes=[waiting],
        )
        assert waiting.alive()
        run_procfile_once("release", one_unapplied)  # the migrate Job, in another process
        assert waiting.process.wait(60) == 0, waiting.log()
    finally:
        waiting.stop()
    assert waiting.log().strip().splitlines()[-1] == "database schema is current: no unapplied migrations"


def test_it_gives_up_after_its_timeout_in_one_line(one_unapplied):
    result = manage(one_unapplied, "await_migrations", "--timeout", "1", "--interval", "0.2", check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"CommandError: gave up after 1s waiting for the database: 1 unapplied migration(s), the first {UNAPPLIED}"
    )


def test_a_current_schema_returns_at_once(tmp_path):
    env = _env(tmp_path)
    run_procfile_once("release", env)
    result = manage(env, "await_migrations", "--timeout", "0", check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "database schema is current: no unapplied migrations"
