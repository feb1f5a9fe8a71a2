"""The floor, stage by stage: CPU ms per mail of each part of its work: `python -m bench.stages [MAILS]`.

The floor's own loop (bench/floor.py) on MAILS generated mails (200; 50 with BENCH_QUICK), after a
few mails of warm-up, with the service functions it calls wrapped from outside, in this process
only: each stage is charged the time spent inside it less that of the stages inside it, so the
stages add up to the whole. CPU time is this process's (time.process_time) plus that of the
sandbox's child processes (pipeline/sandbox.py: parsing and drawing run there), read from
/proc/PID/schedstat in nanoseconds; wall time is kept beside it, and the queries each stage makes.

The printable PDF and the supplier PDF's thumbnail are no stages of the floor: they are drawn on their
first request (webapp/documents/services/printable_requests.py, webapp/inbox/services/
preview_requests.py). What a first request costs is measured after the floor, on FIRST_REQUESTS of
its Documents and of its PDFs: for a printable, the stored XML parsed again and the printable drawn
(both in the sandbox), stored and recorded; for a thumbnail, the PDF's first page drawn (in the
sandbox), stored and recorded; wall and CPU ms each, with a warm sandbox child.
Prints a short table and one JSON line.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .figures import Figure
from .mail import write_mails
from .stack import base_env, migrate, redis_server, temp_root

QUICK = os.environ.get("BENCH_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}
MAILS = 50 if QUICK else 200
WARM_UP_MAILS = 3
#: Documents whose printable is asked for once the floor is done (the first of them warms nothing up:
#: the floor left the sandbox's child warm, as a web thread that drew before has it).
FIRST_REQUESTS = 10 if QUICK else 30

#: Each stage, what it covers, in the order the table prints them; "other" is what no stage claims
#: (the loop, listing the folder, recording each message's row, the fetch run's counters).
STAGES = {
    "mime_read": "MIME read: headers, parts, decoding",
    "hash_store": "hash and store: spool, SHA-256, blob file",
    "message_rows": "message rows: deliveries, attachments, blobs",
    "dte_parse": "DTE parse (sandbox)",
    "document_rows": "document rows: classification, document, copies",
    "render_rows": "render deliveries and preview rows",
    "other": "the loop, listing, message and run rows",
}


#: Stages whose work runs in the sandbox's child: the child's CPU during them is theirs.
SANDBOXED = {"dte_parse"}


def _sandbox_nanoseconds() -> tuple[object, int]:
    """This thread's sandbox child and the CPU nanoseconds its supervisor and server used so far."""
    from pipeline import sandbox

    child = getattr(sandbox._local, "child", None)
    if child is None:
        return None, 0
    pids = [child.pid]
    try:
        pids += [int(pid) for pid in Path(f"/proc/{child.pid}/task/{child.pid}/children").read_text().split()]
        return child, sum(int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) for pid in pids)
    except (FileNotFoundError, ProcessLookupError):  # gone meanwhile: its last call is not counted
        return child, 0


class Stages:
    """Self time and queries per stage: a stage is charged what happens in it, less the stages inside it."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self.queries: dict[str, int] = defaultdict(int)
        self.stack = ["other"]
        self.mark = self._now()

    @staticmethod
    def _now() -> tuple[float, float]:
        return time.process_time(), time.perf_counter()

    def _charge(self) -> None:
        cpu, wall = self._now()
        self.cpu[self.stack[-1]] += cpu - self.mark[0]
        self.wall[self.stack[-1]] += wall - self.mark[1]
        self.mark = (cpu, wall)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._charge()
        self.stack.append(name)
        before = _sandbox_nanoseconds() if name in SANDBOXED else (None, 0)
        try:
            yield
        finally:
            if name in SANDBOXED:  # the child is idle between calls: what it used now is this stage's
                child, used = _sandbox_nanoseconds()
                self.cpu[name] += (used - before[1] if child is before[0] else used) / 1e9
            self._charge()
            self.stack.pop()

    def count_query(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.queries[self.stack[-1]] += 1
        return execute(sql, params, many, context)

    def reset(self) -> None:
        self._charge()
        self.cpu.clear()
        self.wall.clear()
        self.queries.clear()


def _wrap(stages: Stages, module: str, attribute: str, name: str | Callable[[list[str]], str]) -> None:
    """Replace `module.attribute` (a function, or a method as "Class.method") with one timed as stage `name`.

    A generator function is timed while it runs (each step), not while its consumer does.
    """
    owner: Any = importlib.import_module(module)
    *path, last = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, last)  # AttributeError: the product moved; the bench must follow

    def stage_name() -> str:
        return name if isinstance(name, str) else name(stages.stack)

    if getattr(original, "__code__", None) is not None and original.__code__.co_flags & 0x20:  # a generator

        @functools.wraps(original)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            stage = stage_name()
            with stages.stage(stage):
                inner = original(*args, **kwargs)
            while True:
                with stages.stage(stage):
                    try:
                        item = next(inner)
                    except StopIteration:
                        return
                yield item

        setattr(owner, last, generator)
        return

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        with stages.stage(stage_name()):
            return original(*args, **kwargs)

    setattr(owner, last, timed)


def _spool_timed(stages: Stages, spool: Callable[..., Any]) -> Callable[..., Any]:
    """`spool` (a context manager) timed as the hash-and-store stage while it is entered and left;
    the chunks it pulls are the MIME stage: a part is decoded as its chunks are pulled."""

    @contextmanager
    def spool_timed(chunks: Any, **kwargs: Any) -> Iterator[Any]:
        def pulled() -> Iterator[bytes]:
            source = iter(chunks)
            while True:
                with stages.stage("mime_read"):
                    chunk = next(source, None)
                if chunk is None:
                    return
                yield chunk

        manager = spool(pulled(), **kwargs)
        with stages.stage("hash_store"):
            spooled = manager.__enter__()
        try:
            yield spooled
        except BaseException:
            with stages.stage("hash_store"):
                if not manager.__exit__(*sys.exc_info()):
                    raise
        else:
            with stages.stage("hash_store"):
                manager.__exit__(None, None, None)

    return spool_timed


def instrument(stages: Stages) -> None:
    """Time the floor's stages by wrapping the functions the services call (this process only)."""
    from django.db import connection

    import webapp.inbox.services.messages as messages

    wraps = [
        ("pipeline.sources.folder", "read_headers", "mime_read"),
        ("pipeline.sources.folder", "FolderSource.content_digest", "hash_store"),
        ("pipeline.sources.mime", "MimeReader.attachments", "mime_read"),
        ("webapp.inbox.services.messages", "message_begin_delivery", "message_rows"),
        ("webapp.inbox.services.messages", "message_save", "message_rows"),
        ("webapp.inbox.services.messages", "save_spooled", "hash_store"),
        ("pipeline.actors.render", "attachment_begin_render", "render_rows"),
        ("pipeline.actors.render", "attachment_end_render", "render_rows"),
        ("pipeline.actors.render", "attachment_finish_render", "render_rows"),
        ("pipeline.actors.render", "attachment_render_preview", "render_rows"),
        ("pipeline.actors.render", "xml_attachment_process", "document_rows"),
        ("webapp.documents.services.documents", "parse_path", "dte_parse"),
    ]
    messages.spool = _spool_timed(stages, messages.spool)  # type: ignore[assignment]
    for module, attribute, name in wraps:
        _wrap(stages, module, attribute, name)
    connection.execute_wrappers.append(stages.count_query)


def run(mails: int) -> dict:
    root = temp_root("stages")
    try:
        with redis_server(root) as redis:
            env = base_env(root / "state", redis.url)
            os.environ.update(env)
            migrate(env)
            import django

            os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
            django.setup()
            from . import floor

            write_mails(root / "warm", start=300_000, count=WARM_UP_MAILS)
            write_mails(root / "inbox", start=400_000, count=mails)
            stages = Stages()
            instrument(stages)
            floor.work(str(root / "warm"), name="warm-up")  # imports, the sandbox's child, caches
            stages.reset()
            done = floor.work(str(root / "inbox"))
            stages._charge()
            assert done == mails, (done, mails)
            printables = first_requests(min(FIRST_REQUESTS, mails))
            thumbnails = first_thumbnail_requests(min(FIRST_REQUESTS, mails))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    names = [*STAGES, *sorted(set(stages.cpu) - set(STAGES))]
    return {
        "mails": mails,
        "cpu_ms": {name: round(1000 * stages.cpu[name] / mails, 2) for name in names},
        "wall_ms": {name: round(1000 * stages.wall[name] / mails, 2) for name in names},
        "queries": {name: round(stages.queries[name] / mails, 1) for name in names},
        "total_ms": round(1000 * sum(stages.cpu.values()) / mails, 2),
        "total_wall_ms": round(1000 * sum(stages.wall.values()) / mails, 2),
        "queries_per_mail": round(sum(stages.queries.values()) / mails, 1),
        "printable_first_request": printables,
        "thumbnail_first_request": thumbnails,
    }


def first_requests(count: int) -> dict:
    """Wall and CPU ms (this process and the sandbox's child) of a printable's first request, per printable."""
    from webapp.documents.models import Document
    from webapp.documents.services.printable_requests import document_printable

    documents = list(
        Document.objects.filter(printable_status=Document.PrintableStatus.ON_REQUEST, mailbox__name="floor")
        .order_by("pk")
        .select_related("xml_attachment")[:count]
    )
    assert len(documents) == count, "the floor leaves every printable to be made on request"

    def make(document: Any) -> None:
        made = document_printable(document=document)
        assert made.printable_status == Document.PrintableStatus.READY, made.printable_error

    return _timed_each(documents, make)


def first_thumbnail_requests(count: int) -> dict:
    """Wall and CPU ms (this process and the sandbox's child) of a supplier PDF thumbnail's first request, each."""
    from webapp.inbox.models import Attachment
    from webapp.inbox.services.preview_requests import attachment_preview_made

    pdfs = list(
        Attachment.objects.filter(
            preview_status=Attachment.PreviewStatus.ON_REQUEST, message__mailbox__name="floor"
        ).order_by("pk")[:count]
    )
    assert len(pdfs) == count, "the floor leaves every PDF's thumbnail to be made on request"

    def make(attachment: Any) -> None:
        made = attachment_preview_made(attachment=attachment)
        assert made.preview_status == Attachment.PreviewStatus.READY, made.preview_error

    return _timed_each(pdfs, make)


def _timed_each(rows: list, make: Callable[[Any], None]) -> dict:
    walls, cpus = [], []
    for row in rows:
        child, child_before = _sandbox_nanoseconds()
        cpu, wall = time.process_time(), time.perf_counter()
        make(row)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        now, child_after = _sandbox_nanoseconds()
        walls.append(wall)
        cpus.append(cpu + (child_after - child_before if now is child else child_after) / 1e9)
    return {
        "count": len(rows),
        "wall_ms": round(1000 * sum(walls) / len(rows), 2),
        "cpu_ms": round(1000 * sum(cpus) / len(rows), 2),
        "max_wall_ms": round(1000 * max(walls), 2),
    }


def table(r: dict) -> str:
    lines = [f"The floor's work per mail, stage by stage ({r['mails']} mails; CPU of this process and the sandbox's):"]
    lines.append(f"   {'stage':<52} {'CPU ms':>8} {'wall ms':>8} {'queries':>8}")
    for name, cpu in r["cpu_ms"].items():
        label = STAGES.get(name, name)
        lines.append(f"   {label:<52} {cpu:8.2f} {r['wall_ms'][name]:8.2f} {r['queries'][name]:8.1f}")
    lines.append(f"   {'total':<52} {r['total_ms']:8.2f} {r['total_wall_ms']:8.2f} {r['queries_per_mail']:8.1f}")
    first, thumbnail = r["printable_first_request"], r["thumbnail_first_request"]
    lines.append(f"Not in the floor: first requests ({first['count']} of each):")
    for label, made in (
        ("a printable (parse again, draw, store, record)", first),
        ("a supplier PDF's thumbnail (draw, store, record)", thumbnail),
    ):
        lines.append(
            f"   {label:<52} {made['cpu_ms']:8.2f} {made['wall_ms']:8.2f}   (slowest {made['max_wall_ms']} ms)"
        )
    return "\n".join(lines)


def figures(r: dict) -> list[Figure]:
    stages = [
        Figure(f"stages.{name}_ms", f"floor stage: {STAGES.get(name, name)}", cpu, "ms", None, "lower")
        for name, cpu in r["cpu_ms"].items()
    ]
    return [
        *stages,
        Figure("stages.total_ms", "floor stages: CPU per mail, all stages", r["total_ms"], "ms", None, "lower"),
        Figure(
            "stages.queries_per_mail", "floor stages: queries per mail", r["queries_per_mail"], "queries", None, "lower"
        ),
        Figure(
            "stages.printable_first_request_ms",
            "a printable's first request (not in the floor): wall",
            r["printable_first_request"]["wall_ms"],
            "ms",
            None,
            "lower",
        ),
        Figure(
            "stages.printable_first_request_cpu_ms",
            "a printable's first request: CPU, with the sandbox's",
            r["printable_first_request"]["cpu_ms"],
            "ms",
            None,
            "lower",
        ),
        Figure(
            "stages.thumbnail_first_request_ms",
            "a supplier PDF thumbnail's first request (not in the floor): wall",
            r["thumbnail_first_request"]["wall_ms"],
            "ms",
            None,
            "lower",
        ),
    ]


def main() -> int:
    mails = int(sys.argv[1]) if len(sys.argv) > 1 else MAILS
    result = run(mails)
    print(table(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
