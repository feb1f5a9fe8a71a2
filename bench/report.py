"""The table `make bench` prints and the targets it checks."""

from __future__ import annotations


def targets(r: dict) -> dict:
    big = next(row for row in r["attachment"] if row["size_mb"] == 100)
    default = r["latency"][0]
    cheap = [row for row in r["latency"] if row["redis_commands_per_s"] <= 10]
    best = min(cheap, key=lambda row: row["p50_ms"]) if cheap else default
    checks = {
        "idle RSS web+worker+scheduler < 300 MB": (r["idle"]["total_rss_mb"], 300),
        "100 MB attachment grows RSS < 8 MB": (big["new_growth_mb"], 8),
        "drift between first and last batch < 10 MB": (r["drift"]["drift_mb"], 10),
        "download of 200 MB grows web < 10 MB": (r["download"]["web_rss_growth_mb"], 10),
        "enqueue-to-start p50 < 20 ms at <= 10 Redis commands/s": (best["p50_ms"] if cheap else float("inf"), 20),
    }
    out = {
        name: {"value": round(value, 2), "limit": limit, "ok": value < limit} for name, (value, limit) in checks.items()
    }
    ratio = r["throughput"]["ratio_to_floor"]
    out["throughput >= 80% of the floor"] = {"value": round(ratio, 3), "limit": 0.8, "ok": ratio >= 0.8}
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
    lines.append("")
    lines.append("Targets")
    for name, check in r["targets"].items():
        lines.append(f"   [{'ok' if check['ok'] else 'MISS'}] {name}: {check['value']}")
    return "\n".join(lines)
