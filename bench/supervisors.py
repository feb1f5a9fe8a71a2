"""What `make run` itself takes on top of the processes it runs: `python -m bench.supervisors`.

Starts `python -m webapp.run_local` as `make run` does, on a throw-away state folder and a free
port, waits until its web answers and every process settled, and measures the RSS of the
supervisors only: every process of the tree that is not a Procfile process (or one it started)
nor Redis, i.e. the runner itself (and, before, honcho and the Python it forked per process).
The whole tree is reported beside it. Stops it with a Ctrl-C. Prints a short table and one
JSON line; exit 1 over TARGET_MB.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time

import psutil
import requests

from .figures import Figure
from .stack import MB, ProcfileProcess, free_port_url, rss, temp_root, tree, wait_for

#: Issue 16: make run's own supervisors, on top of the processes, took about 94 MB.
TARGET_MB = 40
BEFORE_MB = 94.0
#: What a Procfile process or the embedded Redis runs; everything under one of them is theirs, not a supervisor's.
PAYLOAD = ("gunicorn", "dramatiq", "scheduler.py", "redis-server")
SETTLE_SECONDS = 8


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _is_payload(proc: psutil.Process) -> bool:
    try:
        command = " ".join(proc.cmdline())
    except psutil.Error:
        return False
    return any(word in command for word in PAYLOAD)


def supervisors(root_pid: int) -> list[psutil.Process]:
    """The processes of the tree under `root_pid` that are neither a payload nor under one."""
    found = []
    pending = [psutil.Process(root_pid)]
    while pending:
        proc = pending.pop()
        if _is_payload(proc):
            continue
        found.append(proc)
        pending.extend(proc.children())
    return found


def run() -> dict:
    root = temp_root("supervisors")
    port, base_url = free_port_url()
    env = {
        "STATE_DIR": str(root / "state"),
        "PORT": str(port),
        "ADMIN_PASSWORD": "bench-Admin-pass-42",
        "PATH": "/usr/bin:/bin",
        "HOME": str(root),
    }
    run_local = ProcfileProcess("make-run", env, root, command=f"{sys.executable} -m webapp.run_local")
    try:
        wait_for(lambda: _answers(f"{base_url}/health/live"), timeout=180, what="make run's web", processes=[run_local])
        time.sleep(SETTLE_SECONDS)
        ours = {proc.pid: " ".join(proc.cmdline())[:70] for proc in supervisors(run_local.pid)}
        rows = {f"{pid} {command}": rss(pid) / MB for pid, command in ours.items()}
        whole = sum(rss(proc.pid) for proc in tree(run_local.pid)) / MB
    finally:
        run_local.stop(signal.SIGINT, timeout=60)  # Ctrl-C
        log = run_local.log()
        shutil.rmtree(root, ignore_errors=True)
    assert "Redis stopped." in log, log[-2000:]
    return {"processes": rows, "rss_mb": sum(rows.values()), "tree_rss_mb": whole}


def figures(r: dict) -> list[Figure]:
    return [
        Figure(
            "supervisors.rss",
            "make run's own supervisors",
            r["rss_mb"],
            "MB",
            TARGET_MB,
            "lower",
            {"before": BEFORE_MB},
        ),
        Figure("supervisors.tree_rss", "make run's whole tree, idle", r["tree_rss_mb"], "MB", None, "lower"),
    ]


def table(r: dict) -> str:
    lines = ["make run's supervisors (MB RSS)"]
    lines += [f"   {name:<76} {mb:7.1f}" for name, mb in r["processes"].items()]
    lines.append(f"   {'supervisors':<76} {r['rss_mb']:7.1f}")
    lines.append(f"   {'whole tree (with web, worker, scheduler, Redis)':<76} {r['tree_rss_mb']:7.1f}")
    return "\n".join(lines)


def main() -> int:
    result = run()
    print(table(result))
    print(json.dumps(result))
    return 0 if result["rss_mb"] <= TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
