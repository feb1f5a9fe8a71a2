"""Peak RSS growth of storing one big attachment, in a fresh process: `python -m bench.attach MODE FILE`.

MODE `new`: the real save path (folder source -> message_save -> attachment_store).
MODE `old`: what the Celery system did with Graph's `contentBytes`: json.loads the whole
body, base64-decode it whole, write the bytes. Prints one JSON line of figures.
The parent prepares STATE_DIR (a migrated database) and the environment.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

MB = 1024 * 1024
#: Bytes of random content written per step when making the input files.
BLOCK = 3 * 256 * 1024  # a multiple of 3: base64 pieces join without padding


def _random_blocks(size: int):
    left = size
    while left > 0:
        block = os.urandom(min(BLOCK, left))
        left -= len(block)
        yield block


def write_eml(path: Path, size: int) -> None:
    """A message whose one attachment is `size` random bytes, base64 in 76-column lines, written streaming."""
    boundary = "=_bench_boundary"
    with path.open("wb") as out:
        out.write(
            (
                f"From: facturacion@proveedora.cl\r\nTo: facturas@empresa.cl\r\nSubject: big {size}\r\n"
                f"Message-ID: <big-{size}-{time.time_ns()}@bench>\r\nDate: Tue, 14 May 2024 10:00:00 -0400\r\n"
                f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
                f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAdjunto.\r\n"
                f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                f'Content-Disposition: attachment; filename="big.bin"\r\n'
                f"Content-Transfer-Encoding: base64\r\n\r\n"
            ).encode()
        )
        for block in _random_blocks(size):
            encoded = base64.b64encode(block)
            out.write(b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + b"\r\n")
        out.write(f"--{boundary}--\r\n".encode())


def write_graph_json(path: Path, size: int) -> None:
    """A Graph fileAttachment resource with `contentBytes`, as GET .../attachments/{id} returns it."""
    with path.open("wb") as out:
        out.write(
            b'{"@odata.type":"#microsoft.graph.fileAttachment","id":"AAMkAGI2","name":"big.bin",'
            b'"contentType":"application/octet-stream","size":'
            + str(size).encode()
            + b',"isInline":false,"contentBytes":"'
        )
        for block in _random_blocks(size):
            out.write(base64.b64encode(block))
        out.write(b'"}')


def _rss() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _rss()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.002)


def _measure(work) -> dict:
    baseline, maxrss_before = _rss(), _maxrss()
    sampler = _Sampler()
    sampler.start()
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    peak = max(sampler.peak, _rss())
    maxrss_growth = max(0, _maxrss() - maxrss_before)
    # The sampler can miss a short peak; ru_maxrss cannot (the warm-up left it near the baseline).
    return {
        "baseline_mb": baseline / MB,
        "growth_mb": max(peak - baseline, maxrss_growth) / MB,
        "sampled_growth_mb": (peak - baseline) / MB,
        "maxrss_growth_mb": maxrss_growth / MB,
        "seconds": seconds,
    }


def main(mode: str, path: str, warmup: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    django.setup()
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages

    from webapp.inbox.models import Attachment, Mailbox, MailMessage
    from webapp.inbox.services.messages import message_save

    if mode == "new":
        folder = Path(path).parent
        mailbox = Mailbox.objects.create(name="bench", settings={"path": str(folder)})

        def save(name: str) -> None:
            message = MailMessage.objects.create(mailbox=mailbox, source_id=name, internet_message_id=f"<{name}>")
            message_save(message=message)
            stored = Attachment.objects.filter(message=message, status=Attachment.Status.STORED)
            assert stored.exists(), "the attachment was not stored"

        save(Path(warmup).name)  # every code path loaded before the baseline
        figures = _measure(lambda: save(Path(path).name))
    else:
        storage = storages["default"]

        def save(name: str) -> None:
            body = json.loads(Path(name).read_bytes())
            content = base64.b64decode(body["contentBytes"])
            storage.save(f"old/{time.time_ns()}", ContentFile(content))

        save(warmup)
        figures = _measure(lambda: save(path))
    print(json.dumps(figures))


if __name__ == "__main__":
    main(*sys.argv[1:4])
