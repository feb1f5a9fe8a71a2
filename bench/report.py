"""The stack's table of `make bench`, and its figures."""

from __future__ import annotations

from .figures import Figure

#: The first floor (issue 16): 63 ms of work per mail, 15.9 mails/s on 2 cores; the new one is 3x faster.
FIRST_FLOOR_MS_PER_MAIL = 63.0


def figures(r: dict) -> list[Figure]:
    """The stack's measurements as figures, each beside its target and its anchors."""
    big = next(row for row in r["attachment"] if row["size_mb"] == 100)
    polling = next(row for row in r["latency"] if row["worker_timeout_ms"] == 1000)
    ours = next(row for row in r["latency"] if row["worker_timeout_ms"] is None)
    floor_ms = 1000 / r["floor"]["mails_per_s"]
    out = [
        Figure(
            "stack.idle_rss",
            "idle RSS, web + worker + scheduler",
            r["idle"]["total_rss_mb"],
            "MB",
            200,
            "lower",
            {"first goal": 300},
        ),
        Figure(
            "stack.attachment_100mb_growth",
            "RSS growth storing a 100 MB attachment",
            big["new_growth_mb"],
            "MB",
            8,
            "lower",
            {"old way": big["old_growth_mb"]},
        ),
        Figure(
            "stack.attachment_100mb_rate",
            "store a 100 MB attachment from a folder mailbox",
            100 / big["new_seconds"],
            "MB/s",
            300,
            "higher",
            {"old way": 100 / big["old_seconds"]},
        ),
        Figure(
            "stack.drift",
            f"worker RSS drift over {r['drift']['after_last']} mails",
            r["drift"]["drift_mb"],
            "MB",
            10,
            "lower",
        ),
        Figure(
            "stack.download_growth",
            f"web RSS growth serving a {r['download']['mb']} MB download",
            r["download"]["web_rss_growth_mb"],
            "MB",
            10,
            "lower",
        ),
        Figure(
            "stack.download_rate",
            f"download of {r['download']['mb']} MB through gunicorn",
            r["download"]["mb_per_s"],
            "MB/s",
        ),
        Figure(
            "stack.enqueue_to_start_p50",
            "enqueue-to-start p50, idle worker",
            ours["p50_ms"],
            "ms",
            20,
            "lower",
            {"Dramatiq polling (1 s)": polling["p50_ms"]},
        ),
        Figure(
            "stack.idle_redis_commands",
            "Redis commands/s of an idle worker",
            ours["redis_commands_per_s"],
            "cmds/s",
            10,
            "lower",
            {"Dramatiq polling (1 s)": polling["redis_commands_per_s"]},
        ),
        Figure(
            "stack.floor_ms_per_mail",
            "floor: work per mail, one process, no queue",
            floor_ms,
            "ms",
            round(FIRST_FLOOR_MS_PER_MAIL / 3, 1),
            "lower",
            {"first floor": FIRST_FLOOR_MS_PER_MAIL},
        ),
        Figure(
            "stack.throughput",
            "pipeline throughput, 1 process x 2 threads",
            r["throughput"]["mails_per_s"],
            "mails/s",
            None,
            "higher",
            {"floor": r["floor"]["mails_per_s"]},
        ),
        Figure(
            "stack.throughput_to_floor",
            "pipeline throughput / floor",
            r["throughput"]["ratio_to_floor"],
            "x",
            0.9,
            "higher",
        ),
    ]
    if "idle_after" in r:  # results written before this figure have none
        after = r["idle_after"]
        label = f"idle RSS {after['settle_s']} s after a burst of {after['mails']} mails"
        out.insert(1, Figure("stack.idle_rss_after_burst", label, after["total_rss_mb"], "MB", 200, "lower"))
    return out


def table(r: dict) -> str:
    lines = []
    m = r["machine"]
    lines.append(
        f"invoice-mail bench  {r['date']}  {m['cpus']} CPU ({m['cpu_model']}), {m['memory_mb']} MB"
        f"{'  [BENCH_QUICK]' if r['quick'] else ''}"
    )
    lines.append("")
    lines.append("1. Idle RSS of the Procfile's processes (MB)      RSS      PSS")
    for name, row in r["idle"]["processes"].items():
        lines.append(f"   {name:<44} {row['rss_mb']:7.1f}  {row['pss_mb']:7.1f}")
    lines.append(f"   {'total':<44} {r['idle']['total_rss_mb']:7.1f}  {r['idle']['total_pss_mb']:7.1f}")
    lines.append("")
    lines.append("2. Peak RSS growth storing one attachment (MB)   streamed   old way (contentBytes)   ratio")
    for row in r["attachment"]:
        lines.append(
            f"   {row['size_mb']:>4} MB{'':<37} {row['new_growth_mb']:8.1f}   {row['old_growth_mb']:22.1f}   "
            f"{row['ratio']:5.0f}x"
        )
    d = r["drift"]
    lines.append("")
    lines.append(
        f"3. Worker RSS: idle {d['worker_idle_mb']:.1f} MB, after {d['after_first']} mails "
        f"{d['rss_after_first_mb']:.1f} MB, after {d['after_last']} mails {d['rss_after_last_mb']:.1f} MB: "
        f"drift {d['drift_mb']:+.1f} MB"
    )
    t = r["throughput"]
    lines.append("")
    lines.append(
        f"4. Throughput, {t['mails']} mails (XML + PDF, stored and rendered): pipeline 1 process x 2 threads "
        f"{t['mails_per_s']:.1f} mails/s; floor (one process, no queue) {t['floor_mails_per_s']:.1f} mails/s; "
        f"ratio {t['ratio_to_floor']:.2f}"
    )
    lines.append("")
    lines.append("5. Idle worker: dramatiq_worker_timeout   Redis cmds/s   enqueue-to-start p50    p99    max (ms)")
    for row in r["latency"]:
        label = f"{row['worker_timeout_ms']} ms" if row["worker_timeout_ms"] else "default"
        label += row.get("label", "")
        lines.append(
            f"   {label:<38} {row['redis_commands_per_s']:12.1f}   {row['p50_ms']:20.1f} {row['p99_ms']:6.1f} "
            f"{row['max_ms']:8.1f}"
        )
    dl = r["download"]
    lines.append("")
    lines.append(
        f"6. Download {dl['mb']} MB through gunicorn: {dl['mb_per_s']:.0f} MB/s, web worker RSS growth "
        f"{dl['web_rss_growth_mb']:.1f} MB"
    )
    return "\n".join(lines)
