"""The Document list with its totals at 100,000 documents: `python -m bench.document_list [ROWS]`.

A throw-away migrated SQLite state holds ROWS documents (bench/document_export.py fill) in MAILBOXES
mailboxes over MONTHS months. The admin changelist is asked through django.test.Client, as the
superuser and as a clerk who sees one mailbox, for each of CASES: warm (asked once before), the
median of REPEATS answers, wall clock and CPU time; its queries counted on one more answer. Then
the whole list is exported (CSV, then Excel) as the superuser and the export's peak RSS growth
measured: a streamed export stays flat however many rows. Prints a short table and one JSON line;
exit 1 when a case misses TARGET_MS or TARGET_QUERIES.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time

from . import document_export
from .figures import Figure
from .stack import base_env, migrate, temp_root

ROWS = 100_000
MAILBOXES = 5
MONTHS = 12
REPEATS = 5
#: Issue 16: the list with its totals answers in under 300 ms, in a handful of queries.
TARGET_MS = 300
TARGET_QUERIES = 10
#: An export streams: its RSS grows by a few chunks of rows, never by the whole list.
TARGET_EXPORT_RSS_GROWTH_MB = 64
#: (name, what the table calls it, query string of the changelist).
CASES = (
    ("first_page", "first page", {}),
    ("month", "a month (date hierarchy)", {"issue_date__year": "2026", "issue_date__month": "11"}),
    ("search", "search by issuer name", {"q": "Proveedor 415 SpA"}),
    ("issuer", "issuer filter by RUT", {"issuer": "76.000.415-4"}),
    ("deadline", "claim deadline soon", {"deadline": "soon"}),
    ("sorted", "sorted by total, descending", {"o": "-6"}),
)
USERS = ("superuser", "clerk")


def _users() -> dict:
    from django.contrib.auth.models import Permission, User

    from webapp.inbox.models import Mailbox, MailboxAccess

    superuser = User.objects.create_superuser("bench", "bench@example.cl", "bench-only-pass-1")
    clerk = User.objects.create_user("clerk", password="bench-only-pass-1", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_document"))
    MailboxAccess.objects.create(mailbox=Mailbox.objects.get(name="contabilidad"), user=clerk)
    return {"superuser": superuser, "clerk": clerk}


def _get(client, params: dict):
    from django.urls import reverse

    response = client.get(reverse("admin:documents_document_changelist"), params)
    assert response.status_code == 200, response.status_code
    return response


def _case(client, params: dict) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = _get(client, params)  # warm: the first answer compiles templates, fills caches
    listed = response.context_data["cl"].result_count
    walls, cpus = [], []
    for _ in range(REPEATS):
        started, cpu = time.perf_counter(), time.process_time()
        _get(client, params)
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    with CaptureQueriesContext(connection) as queries:
        _get(client, params)
    slowest = sorted(queries.captured_queries, key=lambda query: -float(query["time"]))[:3]
    return {
        "ms": round(statistics.median(walls) * 1000, 1),
        "cpu_ms": round(statistics.median(cpus) * 1000, 1),
        "queries": len(queries.captured_queries),
        "sql_ms": round(sum(float(query["time"]) for query in queries.captured_queries) * 1000, 1),
        "listed": listed,
        "slowest": [{"ms": round(float(query["time"]) * 1000, 1), "sql": query["sql"][:300]} for query in slowest],
    }


def run(rows: int = ROWS) -> dict:
    root = temp_root("list")
    try:
        env = base_env(root / "state", "redis://127.0.0.1:1/0", ALLOWED_HOSTS="testserver")
        os.environ.update(env)
        migrate(env)
        import django

        os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
        django.setup()
        from django.test import Client

        document_export.fill(rows, mailboxes=MAILBOXES, months=MONTHS)
        out: dict = {"rows": rows, "mailboxes": MAILBOXES, "months": MONTHS}
        for name, user in _users().items():
            client = Client()
            client.force_login(user)
            out[name] = {case: _case(client, params) for case, _label, params in CASES}
            if name == "superuser":
                out["export"] = {
                    file_format: document_export._timed(client, file_format, rows) for file_format in ("csv", "xlsx")
                }
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _met(case: dict) -> bool:
    return case["ms"] <= TARGET_MS and case["queries"] <= TARGET_QUERIES


def passed(r: dict) -> bool:
    cases = all(_met(r[user][case]) for user in USERS for case, _label, _params in CASES)
    return cases and all(r["export"][key]["rss_growth_mb"] <= TARGET_EXPORT_RSS_GROWTH_MB for key in ("csv", "xlsx"))


def table(r: dict) -> str:
    lines = [
        f"Document list with totals, {r['rows']:,} documents in {r['mailboxes']} mailboxes, SQLite"
        f" (median of {REPEATS}, warm):"
    ]
    lines.append(f"   {'user':<10} {'case':<30} {'listed':>7} {'ms':>7} {'(CPU)':>7} {'(SQL)':>7} {'queries':>8}")
    for user in USERS:
        for case, label, _params in CASES:
            row = r[user][case]
            mark = "ok" if _met(row) else "MISS"
            lines.append(
                f"   {user:<10} {label:<30} {row['listed']:7,} {row['ms']:7.0f} {row['cpu_ms']:7.0f} {row['sql_ms']:7.0f}"
                f" {row['queries']:8}  [{mark}]"
            )
    lines.append(f"   targets: <= {TARGET_MS} ms, <= {TARGET_QUERIES} queries")
    for label, key in (("CSV", "csv"), ("Excel", "xlsx")):
        export = r["export"][key]
        lines.append(
            f"   {label} export of the whole list: {export['seconds']:.1f} s, peak RSS growth"
            f" {export['rss_growth_mb']:.1f} MB (<= {TARGET_EXPORT_RSS_GROWTH_MB})"
        )
    return "\n".join(lines)


def figures(r: dict) -> list[Figure]:
    out = []
    for user in USERS:
        for case, label, _params in CASES:
            row = r[user][case]
            out += [
                Figure(
                    f"document_list.{user}_{case}_ms",
                    f"Document list, {user}, {label}",
                    row["ms"],
                    "ms",
                    TARGET_MS,
                    "lower",
                ),
                Figure(
                    f"document_list.{user}_{case}_queries",
                    f"Document list, {user}, {label}: queries",
                    row["queries"],
                    "queries",
                    TARGET_QUERIES,
                    "lower",
                ),
            ]
    for label, key in (("CSV", "csv"), ("Excel", "xlsx")):
        out.append(
            Figure(
                f"document_list.export_{key}_rss_growth",
                f"{label} export of {r['rows']:,} documents, peak RSS growth",
                r["export"][key]["rss_growth_mb"],
                "MB",
                TARGET_EXPORT_RSS_GROWTH_MB,
                "lower",
            )
        )
    return out


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    result = run(rows)
    print(table(result))
    print(json.dumps(result))
    return 0 if passed(result) else 1


if __name__ == "__main__":
    sys.exit(main())
