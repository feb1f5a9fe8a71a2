"""The Procfile's web, worker and scheduler on one state: idle RSS, a 200 MB download, drift, throughput."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

from pipeline.config import BASE_DIR
from tests.support.web import admin_session

from .mail import write_mails
from .stack import (
    MB,
    PeakSampler,
    ProcfileProcess,
    base_env,
    free_port_url,
    migrate,
    pss,
    redis_server,
    rss,
    temp_root,
    tree,
    wait_for,
    worker_child,
)

#: The scheduler must not tick on its own during the runs: the bench sends the ticks.
NEVER = "0 0 1 1 *"
ADMIN_PASSWORD = "bench-Admin-pass-42"
DOWNLOAD_MB = 200
#: The message row that holds the download's attachment (stored directly, not from the folder).
DOWNLOAD_SOURCE_ID = "download.eml"
#: After the runs: a burst of this many mails, then this long with nothing to do, then the idle RSS again.
BURST_MAILS = 200
SETTLE_SECONDS = 20


def run(env: dict[str, str], root: Path, *, quick: bool) -> dict:
    from webapp.inbox.models import Mailbox

    inbox = root / "inbox"
    inbox.mkdir()
    Mailbox.objects.create(name="bench", settings={"path": str(inbox)})
    logs = root / "logs"
    logs.mkdir()
    port, base_url = free_port_url()
    env = dict(env, SCHEDULE_CRON=NEVER)
    processes = {
        "web": ProcfileProcess("web", dict(env, PORT=str(port)), logs),
        # The drift is one process's growth over 2,000 mails: no idle reload may replace it meanwhile.
        "worker": ProcfileProcess("worker", dict(env, WORKER_IDLE_RELOAD_MB="0"), logs),
        "scheduler": ProcfileProcess("scheduler", env, logs),
    }
    alive = list(processes.values())
    try:
        wait_for(lambda: _healthy(base_url), timeout=60, what="the web process", processes=alive)
        wait_for(
            lambda: "ready for action" in processes["worker"].log(), timeout=60, what="the worker", processes=alive
        )
        time.sleep(8)  # let every process settle (imports done, first heartbeats sent)
        out = {"idle": _idle(processes)}
        out["download"] = _download(base_url, processes["web"], inbox)
        out.update(_mail_runs(processes["worker"], inbox, env, quick=quick))
        processes["worker"].stop()  # the burst runs on the worker as the Procfile starts it, idle reload on
        alive.remove(processes["worker"])
        processes["worker"] = ProcfileProcess("worker", env, logs)
        alive.append(processes["worker"])
        wait_for(lambda: "ready for action" in processes["worker"].log(), timeout=60, processes=alive)
        out["idle_after"] = _idle_after_burst(processes, inbox, env, already=out["drift"]["after_last"])
        return out
    finally:
        for process in alive:
            process.stop()


def _healthy(base_url: str) -> bool:
    try:
        return requests.get(f"{base_url}/health/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _idle(processes: dict[str, ProcfileProcess]) -> dict:
    rows = {}
    for name, process in processes.items():
        for index, proc in enumerate(tree(process.pid)):
            role = "master" if index == 0 else f"child{index}"
            if name == "scheduler":
                role = "process"
            rows[f"{name} {role}"] = {"rss_mb": rss(proc.pid) / MB, "pss_mb": pss(proc.pid) / MB}
    return {
        "processes": rows,
        "total_rss_mb": sum(r["rss_mb"] for r in rows.values()),
        "total_pss_mb": sum(r["pss_mb"] for r in rows.values()),
    }


def _idle_after_burst(processes: dict[str, ProcfileProcess], inbox: Path, env: dict[str, str], *, already: int) -> dict:
    """The idle RSS of the same processes (and what they started) once a burst has passed and they sat idle."""
    _process_batch(
        processes["worker"], inbox, env, start=900_000, count=BURST_MAILS, expected_total=already + BURST_MAILS
    )
    time.sleep(SETTLE_SECONDS)
    reloads = processes["worker"].log().count("asks for a graceful reload")
    sandboxes = [
        proc.pid for proc in tree(processes["worker"].pid) if any("sandbox_child" in part for part in _cmdline(proc))
    ]
    return {
        "mails": BURST_MAILS,
        "settle_s": SETTLE_SECONDS,
        "worker_reloads": reloads,  # WORKER_IDLE_RELOAD_MB's, once the burst passed
        **_idle(processes),
        "sandbox_children_rss_mb": sum(rss(pid) for pid in sandboxes) / MB,  # the warm render children, in the total
    }


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def _download(base_url: str, web: ProcfileProcess, inbox: Path) -> dict:
    """Store a 200 MB attachment through the real save path, then download it through gunicorn."""
    from django.contrib.auth import get_user_model

    from pipeline import config
    from pipeline.sources.base import IncomingAttachment
    from webapp.inbox.models import Mailbox, MailMessage
    from webapp.inbox.services.messages import attachment_store

    get_user_model().objects.create_superuser("admin", "admin@example.com", ADMIN_PASSWORD)
    # The cap was read when this process imported config, before it took the bench's environment.
    config.MAX_ATTACHMENT_BYTES = max(config.MAX_ATTACHMENT_BYTES, (DOWNLOAD_MB + 1) * MB)
    block = os.urandom(1024 * 1024)

    def chunks():
        for index in range(DOWNLOAD_MB):
            yield index.to_bytes(8, "big") + block[8:]

    message = MailMessage.objects.create(
        mailbox=Mailbox.objects.get(),
        source_id=DOWNLOAD_SOURCE_ID,
        internet_message_id="<download@bench>",
        status=MailMessage.Status.PROCESSED,
    )
    attachment = attachment_store(
        message=message,
        position=0,
        incoming=IncomingAttachment(filename="big.pdf", content_type="application/octet-stream", open_chunks=chunks),
    )
    assert attachment.status == attachment.Status.STORED, attachment.error
    session = admin_session(base_url, password=ADMIN_PASSWORD)
    web_workers = [proc.pid for proc in tree(web.pid)[1:]]
    before = {pid: rss(pid) for pid in web_workers}
    received = 0
    with PeakSampler(web_workers, interval=0.01) as sampler:
        started = time.perf_counter()
        with session.get(f"{base_url}/downloads/attachments/{attachment.pk}/", stream=True, timeout=60) as answer:
            answer.raise_for_status()
            for piece in answer.iter_content(1024 * 1024):
                received += len(piece)
        seconds = time.perf_counter() - started
    assert received == DOWNLOAD_MB * MB, received
    growth = max(sampler.peak[pid] - before[pid] for pid in web_workers)
    return {"mb": DOWNLOAD_MB, "seconds": seconds, "mb_per_s": DOWNLOAD_MB / seconds, "web_rss_growth_mb": growth / MB}


def _tick(env: dict[str, str]) -> None:
    from dramatiq import Message

    from pipeline.broker import build_broker

    broker = build_broker(url=env["REDIS_URL"], with_django=False)
    try:
        broker.enqueue(Message(queue_name="default", actor_name="tick", args=(), kwargs={}, options={}))
    finally:
        broker.close()


def _process_batch(
    worker: ProcfileProcess, inbox: Path, env: dict[str, str], *, start: int, count: int, expected_total: int
) -> float:
    """Put `count` mails in the folder, tick, wait until all are stored and previewed; seconds from tick to done."""
    from webapp.inbox.models import Attachment, MailMessage

    write_mails(inbox, start=start, count=count)

    mails = MailMessage.objects.exclude(source_id=DOWNLOAD_SOURCE_ID)
    attachments = Attachment.objects.exclude(message__source_id=DOWNLOAD_SOURCE_ID)

    def done() -> bool:
        return (
            mails.filter(status=MailMessage.Status.PROCESSED).count() >= expected_total
            and not attachments.filter(preview_status=Attachment.PreviewStatus.PENDING).exists()
        )

    started = time.perf_counter()
    _tick(env)
    wait_for(done, timeout=1800, interval=0.1, what=f"{count} mails to be processed", processes=[worker])
    seconds = time.perf_counter() - started
    assert mails.exclude(status=MailMessage.Status.PROCESSED).count() == 0
    return seconds


def _mail_runs(worker: ProcfileProcess, inbox: Path, env: dict[str, str], *, quick: bool) -> dict:
    """Drift: worker RSS after the first N and after 10 N mails; throughput: a timed batch in between."""
    first, timed = (50, 200) if quick else (200, 1000)
    last = 10 * first
    child = worker_child(worker)
    idle = rss(child)
    _process_batch(worker, inbox, env, start=100_000, count=first, expected_total=first)
    time.sleep(2)
    after_first = rss(child)
    seconds = _process_batch(worker, inbox, env, start=200_000, count=timed, expected_total=first + timed)
    _process_batch(worker, inbox, env, start=300_000, count=last - first - timed, expected_total=last)
    time.sleep(2)
    after_last = rss(child)
    assert worker_child(worker) == child, "the worker was not recycled during the drift run"
    return {
        "drift": {
            "worker_idle_mb": idle / MB,
            "after_first": first,
            "rss_after_first_mb": after_first / MB,
            "after_last": last,
            "rss_after_last_mb": after_last / MB,
            "drift_mb": (after_last - after_first) / MB,
        },
        "throughput": {"mails": timed, "seconds": seconds, "mails_per_s": timed / seconds},
    }


def floor(*, quick: bool, mails: int | None = None) -> dict:
    """The same work in one process with no queue, on a fresh state."""
    mails = mails or (200 if quick else 1000)
    root = temp_root("floor")
    try:
        with redis_server(root) as redis:
            env = base_env(root / "state", redis.url)
            migrate(env)
            write_mails(root / "inbox", start=400_000, count=mails)
            result = subprocess.run(
                [sys.executable, "-m", "bench.floor", str(root / "inbox")],
                env=env,
                cwd=BASE_DIR,
                capture_output=True,
                text=True,
                timeout=1800,
            )
            if result.returncode:
                raise RuntimeError(f"bench.floor failed:\n{result.stderr[-3000:]}")
            figures = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    assert figures["mails"] == mails, figures
    return {**figures, "mails_per_s": mails / figures["seconds"]}
