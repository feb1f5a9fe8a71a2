"""Peak RSS growth of storing one attachment of 1, 10 and 100 MB: the real save path against the old way."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from pipeline.config import BASE_DIR

from .attach import write_eml, write_graph_json
from .stack import MB, base_env, migrate, redis_server, temp_root

SIZES_MB = (1, 10, 100)


def _measure(template, root, mode: str, path, warmup, redis_url: str, index: int) -> dict:
    state = root / f"state-{mode}-{index}"
    shutil.copytree(template, state)
    env = base_env(state, redis_url)
    result = subprocess.run(
        [sys.executable, "-m", "bench.attach", mode, str(path), str(warmup)],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode:
        raise RuntimeError(f"bench.attach {mode} failed:\n{result.stderr[-3000:]}")
    shutil.rmtree(state, ignore_errors=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(*, quick: bool) -> list[dict]:
    root = temp_root("attach")
    rows = []
    try:
        with redis_server(root) as server:
            template = root / "template"
            migrate(base_env(template, server.url))
            mail = root / "mail"
            mail.mkdir()
            write_graph_json(root / "warmup.json", 64 * 1024)
            for index, size in enumerate(SIZES_MB):
                write_eml(mail / "warmup.eml", 64 * 1024)  # the folder source moves each message it saved
                write_eml(mail / f"big-{size}.eml", size * MB)
                write_graph_json(root / f"big-{size}.json", size * MB)
                new = _measure(template, root, "new", mail / f"big-{size}.eml", mail / "warmup.eml", server.url, index)
                old = _measure(
                    template, root, "old", root / f"big-{size}.json", root / "warmup.json", server.url, index
                )
                shutil.rmtree(mail / "processed", ignore_errors=True)  # the folder source moved it there
                (mail / f"big-{size}.eml").unlink(missing_ok=True)
                (root / f"big-{size}.json").unlink()
                rows.append(
                    {
                        "size_mb": size,
                        "new_growth_mb": new["growth_mb"],
                        "new_maxrss_growth_mb": new["maxrss_growth_mb"],
                        "new_seconds": new["seconds"],
                        "old_growth_mb": old["growth_mb"],
                        "old_maxrss_growth_mb": old["maxrss_growth_mb"],
                        "old_seconds": old["seconds"],
                        "ratio": old["growth_mb"] / max(new["growth_mb"], 0.1),
                    }
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows
