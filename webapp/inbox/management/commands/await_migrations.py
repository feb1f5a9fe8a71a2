"""Wait until the database has no unapplied migrations: the gate of a process that starts beside `migrate`.

`kubectl apply -k` starts the Deployments while the migrate Job still runs (a PaaS may start its
processes before its release command has finished): each pod's init container runs this command,
and the process starts once the schema is the code's. Exit 0 then; exit 1 with one line when
`--timeout` passes first. A database that does not answer yet is waited for as well.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

#: How often the state is said while waiting (each change of it is said at once).
REPORT_SECONDS = 30.0


def unapplied_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """`app.name` of each migration the code has and the database has not applied, in the order migrate runs them."""
    connection = connections[alias]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, backwards in plan if not backwards]


class Command(BaseCommand):
    help = "Wait until the database has no unapplied migrations; exit 1 after --timeout seconds."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait at most (default 600)")
        parser.add_argument("--interval", type=float, default=2.0, help="seconds between checks (default 2)")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="the database to check (default: default)")

    def handle(self, *args, timeout: float, interval: float, database: str, **options):
        deadline = time.monotonic() + timeout
        said, said_at = "", 0.0
        while True:
            state = self._state(database)
            if not state:
                self.stdout.write("database schema is current: no unapplied migrations")
                return
            now = time.monotonic()
            if now >= deadline:
                raise CommandError(f"gave up after {timeout:g}s waiting for the database: {state}")
            if state != said or now - said_at >= REPORT_SECONDS:
                self.stdout.write(f"waiting for the database: {state}")
                self.stdout.flush()
                said, said_at = state, now
            time.sleep(min(interval, max(0.0, deadline - now)))

    @staticmethod
    def _state(database: str) -> str:
        """What is still missing, in a few words; "" when nothing is."""
        try:
            pending = unapplied_migrations(database)
        except DatabaseError as exc:
            connections[database].close()  # the next check connects again
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return f"it does not answer ({type(exc).__name__}: {first_line})"
        if not pending:
            return ""
        return f"{len(pending)} unapplied migration(s), the first {pending[0]}"
