"""Import rate and peak memory of a 100,000-row SII purchase register: `python -m bench.rcv_import [ROWS]`.

A throw-away migrated SQLite state; the CSV is generated in a temp folder and imported through the
service (webapp/register/services/imports.py) three times: new rows, the same file again (all
unchanged), then the registro list of the same documents (every entry moved). Rate and peak RSS
growth are measured without tracemalloc (it slows Python down); the Python heap peak on a 4th run
under tracemalloc. Prints a short table and one JSON line; exit 1 below TARGET_ROWS_PER_S.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import tracemalloc
from pathlib import Path

from .figures import Figure
from .stack import MB, PeakSampler, base_env, migrate, rss, temp_root

ROWS = 100_000
#: Issue 16: a month of a large receiver imports in under 20 s.
TARGET_ROWS_PER_S = 5_000
RECEIVER = "76086428-5"
HEADER = (
    "Nro;Tipo Doc;Tipo Compra;RUT Proveedor;Razon Social;Folio;Fecha Docto;Fecha Recepcion;{acuse}Monto Exento;"
    "Monto Neto;Monto IVA Recuperable;Monto Iva No Recuperable;Codigo IVA No Rec.;Monto Total;"
    "Monto Neto Activo Fijo;IVA Activo Fijo;IVA uso Comun;Impto. Sin Derecho a Credito;IVA No Retenido;"
    "NCE o NDE sobre Fact. de Compra;Codigo Otro Impuesto;Valor Otro Impuesto;Tasa Otro Impuesto\n"
)


def write_register(path: Path, rows: int, *, registered: bool) -> None:
    """`rows` documents of 1,000 issuers, as the SII's pendiente (or registro) list writes them."""
    from pipeline.dte.rut import check_digit

    issuers = [f"{body}-{check_digit(body)}" for body in range(76_000_000, 76_001_000)]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER.format(acuse="Fecha Acuse;" if registered else ""))
        for number in range(1, rows + 1):
            net = 1000 + number % 50_000
            vat = net * 19 // 100
            acuse = "05/07/2024 10:00:00;" if registered else ""
            out.write(
                f"{number};33;Del Giro;{issuers[number % 1000]};  Proveedor {number % 1000} SpA ;{number};"
                f"{1 + number % 28:02d}/06/2024;01/07/2024 {number % 24:02d}:21:32;{acuse}0;{net};{vat};;;"
                f"{net + vat};;;;;0;0;;;\n"
            )


def _import(path: Path, name: str):
    from webapp.register.services.imports import rcv_import

    with path.open("rb") as file:
        return rcv_import(file, filename=name)


def _timed(path: Path, name: str) -> dict:
    before = rss(os.getpid())
    with PeakSampler([os.getpid()], interval=0.01) as sampler:
        started = time.perf_counter()
        record = _import(path, name)
        seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "rows_per_s": round(record.rows_read / seconds),
        "rss_growth_mb": round((sampler.peak[os.getpid()] - before) / MB, 1),
        "new": record.rows_created,
        "changed": record.rows_updated,
        "unchanged": record.rows_unchanged,
        "refused": record.rows_failed,
    }


def run(rows: int = ROWS) -> dict:
    root = temp_root("rcv")
    try:
        env = base_env(root / "state", "redis://127.0.0.1:1/0")  # nothing here talks to Redis
        os.environ.update(env)
        migrate(env)
        import django

        os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
        django.setup()
        pending, registered = root / "pendiente.csv", root / "registro.csv"
        write_register(pending, rows, registered=False)
        write_register(registered, rows, registered=True)
        out = {"rows": rows, "file_mb": round(pending.stat().st_size / MB, 1)}
        out["new"] = _timed(pending, f"RCV_COMPRA_PENDIENTE_{RECEIVER}_202407.csv")
        out["again"] = _timed(pending, f"RCV_COMPRA_PENDIENTE_{RECEIVER}_202407.csv")
        out["moved"] = _timed(registered, f"RCV_COMPRA_REGISTRO_{RECEIVER}_202407.csv")
        tracemalloc.start()
        _import(pending, "RCV_COMPRA_PENDIENTE_76354771-K_202407.csv")  # another receiver: all new rows
        out["python_heap_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / MB, 1)
        tracemalloc.stop()
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def table(r: dict) -> str:
    lines = [f"RCV import, {r['rows']:,} rows ({r['file_mb']} MB CSV), SQLite:"]
    lines.append("   run                       seconds   rows/s   peak RSS growth (MB)")
    for label, key in (("new entries", "new"), ("same file again", "again"), ("pendiente -> registro", "moved")):
        run = r[key]
        lines.append(f"   {label:<24} {run['seconds']:8.1f} {run['rows_per_s']:8,} {run['rss_growth_mb']:12.1f}")
    lines.append(f"   Python heap peak of one import (tracemalloc): {r['python_heap_peak_mb']} MB")
    ok = r["new"]["rows_per_s"] >= TARGET_ROWS_PER_S
    lines.append(
        f"   [{'ok' if ok else 'MISS'}] import rate >= {TARGET_ROWS_PER_S:,} rows/s: {r['new']['rows_per_s']:,}"
    )
    return "\n".join(lines)


def figures(r: dict) -> list[Figure]:
    rows = f"{r['rows']:,}"
    return [
        Figure(
            "rcv_import.new_rate", f"RCV import of {rows} new rows", r["new"]["rows_per_s"], "rows/s", TARGET_ROWS_PER_S
        ),
        Figure(
            "rcv_import.again_rate", f"RCV import of the same {rows} rows again", r["again"]["rows_per_s"], "rows/s"
        ),
        Figure(
            "rcv_import.moved_rate", f"RCV import of {rows} rows moved to registro", r["moved"]["rows_per_s"], "rows/s"
        ),
        Figure("rcv_import.heap_peak", "RCV import, Python heap peak", r["python_heap_peak_mb"], "MB", None, "lower"),
    ]


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    result = run(rows)
    print(table(result))
    print(json.dumps(result))
    return 0 if result["new"]["rows_per_s"] >= TARGET_ROWS_PER_S else 1


if __name__ == "__main__":
    sys.exit(main())
