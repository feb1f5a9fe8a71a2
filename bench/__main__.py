"""`python -m bench`: measure, print the table, write bench/results.json. BENCH_QUICK=1: a shorter run."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import signal
import sys
import time
from pathlib import Path

from pipeline.config import BASE_DIR

from . import report
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


def _stop(signum, frame):
    raise SystemExit(128 + signum)  # run the finally blocks: every process we started is stopped


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    started = time.monotonic()
    root = temp_root("main")
    results: dict = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": QUICK,
        "machine": _machine(),
    }
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
    results["seconds"] = round(time.monotonic() - started, 1)
    results["targets"] = report.targets(results)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(report.table(results))
    print(f"\nwritten to {RESULTS.relative_to(BASE_DIR)} in {results['seconds']:.0f} s")
    return 0 if all(t["ok"] for t in results["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
