"""A throw-away state folder, Redis and the Procfile's processes, for one benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from pipeline.config import BASE_DIR
from pipeline.embedded_redis import EmbeddedRedis
from tests.support.processes import ProcfileProcess, procfile_commands, wait_for

MB = 1024 * 1024
SECRET_KEY = "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def base_env(state: Path, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of every process of one benchmark stack (and of the bench itself)."""
    state.mkdir(parents=True, exist_ok=True)
    env = {
        "STATE_DIR": str(state),
        "DATABASE_URL": f"sqlite:///{state / 'db.sqlite3'}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET_KEY,
        "DEBUG": "false",
        "HTTPS": "false",  # plain HTTP on 127.0.0.1: no redirect to https
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "HOME": str(state),
        "MAX_ATTACHMENT_MB": "300",
        # Measure drift, not recycling: the bench turns both limits off.
        "WORKER_MAX_MESSAGES": "0",
        "WORKER_MAX_RSS_MB": "0",
    }
    env.update(extra)
    return env


@contextmanager
def redis_server(root: Path) -> Iterator[EmbeddedRedis]:
    # No AOF: the benchmark measures our processes, not Redis's disk.
    with EmbeddedRedis.start(root / "redis", appendonly=False) as server:
        yield server


def migrate(env: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", "-c", procfile_commands()["release"]],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode:
        raise RuntimeError(f"release (migrate) failed:\n{result.stderr[-3000:]}")


def temp_root(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"invoicemail-bench-{prefix}-"))


def tree(pid: int) -> list[psutil.Process]:
    """A process and its descendants (the bash that exec'd it is the process itself)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def rss(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def pss(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_full_info().pss
    except (psutil.NoSuchProcess, psutil.AccessDenied, AttributeError):
        return 0


def worker_child(worker: ProcfileProcess) -> int:
    """The pid of the (first) dramatiq worker process under the worker's master."""
    children = wait_for(
        lambda: psutil.Process(worker.pid).children(), timeout=30, what="a worker process", processes=[worker]
    )
    return children[0].pid


def wait_worker_ready(worker: ProcfileProcess, timeout: float = 60) -> None:
    wait_for(lambda: "ready for action" in worker.log(), timeout=timeout, what="the worker to boot", processes=[worker])


class PeakSampler:
    """Samples the RSS of some processes every few milliseconds in a thread; keeps the peak."""

    def __init__(self, pids: list[int], interval: float = 0.005) -> None:
        self.pids = pids
        self.interval = interval
        self.peak = {pid: rss(pid) for pid in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss(pid))
            time.sleep(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        for pid in self.pids:
            self.peak[pid] = max(self.peak[pid], rss(pid))


def free_port_url() -> tuple[int, str]:
    from tests.support.processes import free_port

    port = free_port()
    return port, f"http://127.0.0.1:{port}"
