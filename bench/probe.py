"""A probe actor for the latency benchmark: it notes when it starts, in a file (no Redis commands).

Loaded by the benchmark's worker as an extra module after `pipeline.actors`.
"""

import os
import time

import dramatiq

from pipeline.config import DEFAULT_QUEUE

#: The file each start is appended to, as "<sequence> <unix time>".
PROBE_FILE = os.environ.get("BENCH_PROBE_FILE", "/dev/null")


@dramatiq.actor(queue_name=DEFAULT_QUEUE, max_retries=0)
def bench_probe(sequence: int) -> None:
    started = time.time()
    with open(PROBE_FILE, "a") as out:
        out.write(f"{sequence} {started:.6f}\n")
