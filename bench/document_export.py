"""Export rate and peak memory of the Document list's 100,000 rows: `python -m bench.document_export [ROWS]`.

A throw-away migrated SQLite state holds ROWS documents of 1,000 issuers (invoices, one in ten a
credit note), each with its copy and the mail that carried it. The superuser exports the whole
list through the admin's own URLs (webapp/exports_admin.py), CSV then Excel, and the file is read
to its end as a browser would. Rate (and the CPU time, which a busy machine does not inflate) and
peak RSS growth are measured without tracemalloc; each format's Python heap peak on another run
under tracemalloc (it slows Python down). Prints a short table and one JSON line; exit 1 when an
export's heap peak passes MAX_HEAP_PEAK_MB.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import time
import tracemalloc

from .figures import Figure
from .stack import MB, PeakSampler, base_env, migrate, rss, temp_root

ROWS = 100_000
#: Flat memory: however many rows, an export holds two chunks of them at most, never the whole list.
MAX_HEAP_PEAK_MB = 64
ISSUERS = 1_000
MAILS = 2_000
BATCH = 5_000


def _issued(number: int, months: int) -> dt.date:
    """Document `number`'s issue date: in one of the `months` months up to November 2026."""
    year, month = divmod(2026 * 12 + 10 - number % months, 12)
    return dt.date(year, month + 1, 1 + number % 28)


def fill(rows: int, *, mailboxes: int = 1, months: int = 1) -> None:
    """`rows` documents in one mailbox, each with its copy in one of MAILS mails of November 2026.

    With more `mailboxes`, document n is in mailbox n % mailboxes (the mail that carried it too); with
    more `months`, issued in one of the `months` months up to November 2026. Invoices (33) have a claim
    deadline around today: a third still pending, the others lapsed.
    """
    from django.utils import timezone

    from pipeline.dte.rut import check_digit
    from webapp.documents.models import Document, DocumentSource
    from webapp.inbox.models import Attachment, Mailbox, MailMessage

    boxes = [Mailbox.objects.create(name="contabilidad" if n == 0 else f"sucursal-{n}") for n in range(mailboxes)]
    arrived = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
    now = timezone.now()
    messages = MailMessage.objects.bulk_create(
        MailMessage(
            mailbox=boxes[n % mailboxes],
            source_id=f"m{n}",
            subject=f"Factura {n}",
            received_at=arrived + dt.timedelta(minutes=n),
        )
        for n in range(MAILS)
    )
    xmls = Attachment.objects.bulk_create(
        Attachment(message=m, position=0, original_filename="dte.xml", filename="dte.xml", status="stored")
        for m in messages
    )
    issuers = [f"{body}-{check_digit(body)}" for body in range(76_000_000, 76_000_000 + ISSUERS)]
    for start in range(1, rows + 1, BATCH):
        numbers = range(start, min(start + BATCH, rows + 1))
        documents = Document.objects.bulk_create(
            Document(
                mailbox=boxes[number % MAILS % mailboxes],
                doc_type=61 if number % 10 == 0 else 33,
                type_name="Factura electrónica",
                folio=number,
                issue_date=_issued(number, months),
                issuer_rut=issuers[number % ISSUERS],
                issuer_name=f"Proveedor {number % ISSUERS} SpA",
                receiver_rut="76354771-K",
                net=1_000 + number,
                vat=(1_000 + number) * 19 // 100,
                total=(1_000 + number) * 119 // 100,
                xml_attachment=xmls[number % MAILS],
                claim_deadline=None if number % 10 == 0 else now + dt.timedelta(days=number % 29 - 19),
            )
            for number in numbers
        )
        DocumentSource.objects.bulk_create(
            DocumentSource(document=document, attachment_id=document.xml_attachment_id, chosen=True)
            for document in documents
        )


def _export(client, file_format: str, rows: int) -> int:
    """The bytes of the whole list exported, read to its end as a download is."""
    from django.urls import reverse

    response = client.get(reverse(f"admin:documents_document_export_{file_format}"))
    assert response.status_code == 200, response.status_code
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    response.close()
    if file_format == "csv":
        assert lines == rows + 1, f"the CSV holds {lines - 1} rows, not {rows}"
    return size


def _timed(client, file_format: str, rows: int) -> dict:
    before = rss(os.getpid())
    with PeakSampler([os.getpid()], interval=0.01) as sampler:
        started, cpu = time.perf_counter(), time.process_time()
        size = _export(client, file_format, rows)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "rows_per_s": round(rows / seconds),
        "rss_growth_mb": round((sampler.peak[os.getpid()] - before) / MB, 1),
        "file_mb": round(size / MB, 1),
    }


def run(rows: int = ROWS) -> dict:
    root = temp_root("export")
    try:
        env = base_env(root / "state", "redis://127.0.0.1:1/0", ALLOWED_HOSTS="testserver")
        os.environ.update(env)
        migrate(env)
        import django

        os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
        django.setup()
        from django.contrib.auth.models import User
        from django.test import Client

        fill(rows)
        client = Client()
        client.force_login(User.objects.create_superuser("bench", "bench@example.cl", "bench-only-pass-1"))
        out = {"rows": rows}
        out["csv"] = _timed(client, "csv", rows)
        out["xlsx"] = _timed(client, "xlsx", rows)
        for file_format in ("csv", "xlsx"):
            tracemalloc.start()
            _export(client, file_format, rows)
            out[file_format]["python_heap_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / MB, 1)
            tracemalloc.stop()
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def passed(r: dict) -> bool:
    return all(r[name]["python_heap_peak_mb"] <= MAX_HEAP_PEAK_MB for name in ("csv", "xlsx"))


def table(r: dict) -> str:
    lines = [f"Document list export, {r['rows']:,} documents, SQLite:"]
    lines.append("   format   seconds   (CPU)   rows/s   file (MB)   peak RSS growth (MB)   Python heap peak (MB)")
    for label, key in (("CSV", "csv"), ("Excel", "xlsx")):
        run = r[key]
        lines.append(
            f"   {label:<7} {run['seconds']:8.1f} {run['cpu_seconds']:7.1f} {run['rows_per_s']:8,}"
            f" {run['file_mb']:11.1f} {run['rss_growth_mb']:12.1f} {run['python_heap_peak_mb']:23.1f}"
        )
    peak = max(r["csv"]["python_heap_peak_mb"], r["xlsx"]["python_heap_peak_mb"])
    lines.append(f"   [{'ok' if passed(r) else 'MISS'}] Python heap peak <= {MAX_HEAP_PEAK_MB} MB: {peak} MB")
    return "\n".join(lines)


def figures(r: dict) -> list[Figure]:
    out = []
    for label, key in (("CSV", "csv"), ("Excel", "xlsx")):
        out += [
            Figure(
                f"document_export.{key}_rate",
                f"{label} export of {r['rows']:,} documents",
                r[key]["rows_per_s"],
                "rows/s",
            ),
            Figure(
                f"document_export.{key}_heap_peak",
                f"{label} export, Python heap peak",
                r[key]["python_heap_peak_mb"],
                "MB",
                MAX_HEAP_PEAK_MB,
                "lower",
            ),
        ]
    return out


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    result = run(rows)
    print(table(result))
    print(json.dumps(result))
    return 0 if passed(result) else 1


if __name__ == "__main__":
    sys.exit(main())
