"""Enqueue-to-start latency of an idle worker, beside the Redis commands per second it costs idle.

For each `dramatiq_worker_timeout` value, a worker from the Procfile's command (plus the
probe module) runs on its own Redis; the values run side by side to save time.
"""

from __future__ import annotations

import random
import shutil
import statistics
import threading
import time
from pathlib import Path

import redis as redis_lib
from dramatiq import Message

from pipeline.broker import build_broker

from .stack import ProcfileProcess, base_env, procfile_commands, redis_server, temp_root, wait_for

#: The wake-up consumer's safety poll (ms), as pipeline.config reads it.
IDLE_POLL_MS = 5000
#: Poll timeouts (ms) to chart; the first is Dramatiq's default.
TIMEOUTS = (1000, 500, 100)


def _commands(client: redis_lib.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


def _one(timeout_ms: int | None, *, probes: int, idle_window: float, extra_env: dict[str, str]) -> dict:
    root = temp_root(f"latency-{timeout_ms}")
    probe_file = root / "probes.txt"
    probe_file.touch()
    with redis_server(root) as server:
        env = base_env(root / "state", server.url, BENCH_PROBE_FILE=str(probe_file), **extra_env)
        if timeout_ms is not None:
            env["dramatiq_worker_timeout"] = str(timeout_ms)
        (root / "logs").mkdir()
        worker = ProcfileProcess(
            "worker",
            env,
            root / "logs",
            command=procfile_commands()["worker"].replace("pipeline.actors", "pipeline.actors bench.probe", 1),
        )
        client = redis_lib.Redis.from_url(server.url)
        broker = build_broker(url=server.url, with_django=False)
        try:
            wait_for(lambda: "ready for action" in worker.log(), timeout=90, what="the worker", processes=[worker])
            poll_s = (timeout_ms or IDLE_POLL_MS) / 1000
            time.sleep(max(3.0, 4 * poll_s))  # the consumers back off to their slowest idle poll
            before, t0 = _commands(client), time.monotonic()
            time.sleep(idle_window)
            after, t1 = _commands(client), time.monotonic()
            per_second = (after - before - 1) / (t1 - t0)  # the INFO that took `before` counts once

            latencies = []
            for sequence in range(probes):
                # Idle long enough for the consumers to be back at their slowest poll.
                # (a woken consumer does not depend on its backoff: a short idle gap is enough there).
                time.sleep(max(1.0, 3 * poll_s) + random.uniform(0, poll_s) if timeout_ms else random.uniform(1.0, 2.5))
                sent = time.time()
                broker.enqueue(
                    Message(queue_name="default", actor_name="bench_probe", args=(sequence,), kwargs={}, options={})
                )
                line = wait_for(
                    lambda sequence=sequence: _started(probe_file, sequence),
                    timeout=30,
                    interval=0.002,
                    what="the probe to start",
                    processes=[worker],
                )
                latencies.append((line - sent) * 1000)
        finally:
            broker.close()
            client.close()
            worker.stop()
    shutil.rmtree(root, ignore_errors=True)
    latencies.sort()
    label = " (plain polling)" if extra_env.get("WORKER_WAKEUP") == "false" else " + pub/sub wake-up (our default)"
    return {
        "worker_timeout_ms": timeout_ms,
        "label": label,
        "redis_commands_per_s": per_second,
        "probes": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))],
        "max_ms": latencies[-1],
    }


def _started(probe_file: Path, sequence: int) -> float | None:
    for line in probe_file.read_text().splitlines():
        number, _, stamp = line.partition(" ")
        if number == str(sequence):
            return float(stamp)
    return None


def run(*, quick: bool) -> list[dict]:
    probes, window = (12, 10.0) if quick else (30, 20.0)
    # Dramatiq's plain polling at a few timeouts, then our default: wake-ups with a slow safety poll.
    configs = [(t, {"WORKER_WAKEUP": "false"}) for t in TIMEOUTS] + [(None, {})]
    results: list[dict | None] = [None] * len(configs)
    errors: list[BaseException] = []

    def measure(index: int, timeout_ms: int | None, extra: dict[str, str]) -> None:
        try:
            results[index] = _one(timeout_ms, probes=probes, idle_window=window, extra_env=extra)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=measure, args=(i, t, extra)) for i, (t, extra) in enumerate(configs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]
