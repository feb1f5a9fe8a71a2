"""`python -m bench`: measure, print the table, write bench/results.json. BENCH_QUICK=1: a shorter run."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pipeline.config import BASE_DIR

from . import report
from .figures import Figure, previous_values, table
from .stack import base_env, migrate, redis_server, temp_root

QUICK = os.environ.get("BENCH_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}
RESULTS = BASE_DIR / "bench" / "results.json"


def _machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import psutil

    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "memory_mb": psutil.virtual_memory().total // (1024 * 1024),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _reference_ms() -> float:
    """This machine's speed now: the best of five runs of one fixed pure-Python loop, in ms.

    Shared machines vary (the same code gave twice the floor on one day as on another): a figure
    read beside this one says whether the code or the machine changed.
    """
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        sum(i * i for i in range(1_000_000))
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def _stop(signum, frame):
    raise SystemExit(128 + signum)  # run the finally blocks: every process we started is stopped


def _stack(results: dict) -> list[Figure]:
    """The Procfile's processes on one state: idle RSS, download, drift, throughput, latency, attachments, floor."""
    root = temp_root("main")
    try:
        with redis_server(root) as redis:
            env = base_env(root / "state", redis.url)
            os.environ.update(env)  # this process reads the same database as the stack
            migrate(env)
            import django

            os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
            django.setup()
            from . import pipeline_runs

            results.update(pipeline_runs.run(env, root, quick=QUICK))
        from . import attachments, latency

        results["latency"] = latency.run(quick=QUICK)
        results["attachment"] = attachments.run(quick=QUICK)
        results["floor"] = pipeline_runs.floor(quick=QUICK)
        results["throughput"]["floor_mails_per_s"] = results["floor"]["mails_per_s"]
        results["throughput"]["ratio_to_floor"] = results["throughput"]["mails_per_s"] / results["floor"]["mails_per_s"]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return report.figures(results)


def _module(name: str) -> Callable[[dict], list[Figure]]:
    """A section run as `python -m bench.NAME` in a process of its own: its last output line is its JSON."""

    def section(results: dict) -> list[Figure]:
        done = subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=BASE_DIR, capture_output=True, text=True)
        print(done.stdout.rstrip("\n").rpartition("\n")[0])  # its own table
        if done.returncode not in (0, 1):  # 1: it ran, and missed a target of its own
            raise RuntimeError(f"bench.{name} failed:\n{done.stderr[-3000:]}")
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        return importlib.import_module(f"bench.{name}").figures(results[name])

    return section


#: Every part of `make bench`, in the order it runs; BENCH_ONLY=name,name runs some of them.
SECTIONS: dict[str, Callable[[dict], list[Figure]]] = {
    "stack": _stack,
    "rcv_import": _module("rcv_import"),
    "document_export": _module("document_export"),
    "mime": _module("mime_speed"),
    "stages": _module("stages"),
    "document_list": _module("document_list"),
    "supervisors": _module("supervisors"),
}


def _chosen() -> list[str]:
    only = [name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"BENCH_ONLY: no section {', '.join(sorted(unknown))}; there are {', '.join(SECTIONS)}")
    return only or list(SECTIONS)


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    started = time.monotonic()
    chosen = _chosen()
    earlier = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    # A partial run keeps what the other sections measured last time (the stack's rows are at the top).
    results: dict = {key: value for key, value in earlier.items() if key not in chosen and key != "figures"}
    results.update(
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        quick=QUICK,
        machine=_machine(),
        sections=chosen,
    )
    reference_at_start = _reference_ms()
    figures: list[Figure] = []
    kept = {key: row for key, row in (earlier.get("figures") or {}).items() if key.split(".")[0] not in chosen}
    for name in chosen:
        print(f"--- {name}", flush=True)
        figures += SECTIONS[name](results)
    results["machine"]["reference_ms"] = {"start": reference_at_start, "end": _reference_ms()}
    results["seconds"] = round(time.monotonic() - started, 1)
    results["figures"] = {**kept, **{figure.key: figure.as_json() for figure in figures}}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    if "stack" in chosen:
        print(report.table(results))
    m = results["machine"]
    print(
        f"\ninvoice-mail bench {results['date']}, {m['cpus']} CPU ({m['cpu_model']}){'  [BENCH_QUICK]' if QUICK else ''}"
        f"; this machine's reference loop {m['reference_ms']['start']} ms at the start, {m['reference_ms']['end']} at the end"
    )
    print(table(figures, previous_values(earlier)))
    print(f"\nwritten to {RESULTS.relative_to(BASE_DIR)} in {results['seconds']:.0f} s")
    return 0 if all(figure.met() is not False for figure in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
