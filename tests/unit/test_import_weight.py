"""Each process imports only what it uses: the scheduler no Django, the worker no heavy libraries until needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pipeline.config import BASE_DIR

#: Libraries that cost megabytes of memory and must load only where they are used.
HEAVY = ("reportlab", "boto3", "botocore", "pypdfium2")


def _modules_after(code: str, tmp_path) -> set[str]:
    env = dict(
        os.environ,
        STATE_DIR=str(tmp_path),
        SECRET_KEY="import-weight-test-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        DEBUG="false",
        DJANGO_SETTINGS_MODULE="webapp.settings",
    )
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return {name.split(".")[0] for name in json.loads(result.stdout.splitlines()[-1])}


def test_scheduler_loads_neither_django_nor_heavy_libraries(tmp_path):
    loaded = _modules_after("import scheduler", tmp_path)
    assert "django" not in loaded
    assert "django_dramatiq" not in loaded
    assert not loaded & {*HEAVY, "lxml", "msal", "requests", "psycopg"}


def test_worker_entry_point_loads_no_heavy_library_before_it_is_used(tmp_path):
    loaded = _modules_after("import pipeline.actors", tmp_path)
    assert "django" in loaded  # sanity: this is the worker's real entry point
    assert not loaded & set(HEAVY)


def test_web_process_loads_no_rendering_or_cloud_library(tmp_path):
    loaded = _modules_after("import webapp.wsgi", tmp_path)
    assert not loaded & set(HEAVY)


def test_pdfium_loads_only_when_a_preview_is_made(tmp_path):
    loaded = _modules_after("import webapp.wsgi, pipeline.actors\nfrom webapp.inbox.services import previews", tmp_path)
    assert "pypdfium2" not in loaded
