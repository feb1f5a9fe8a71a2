"""The web and the worker start without the libraries only the sandbox's child needs.

lxml and cryptography (the DTE parsers, about 15 MB a process) load in the child that parses;
requests only where a Microsoft 365 mailbox is read. Each process is a fresh interpreter here,
importing what the Procfile's web and worker import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipeline.config import BASE_DIR

#: Loaded by neither process at start.
HEAVY = ("lxml", "cryptography.hazmat", "cryptography.x509", "requests", "pipeline.dte.registry")

STARTS = {
    "web": "import webapp.wsgi; from django.urls import get_resolver; get_resolver().url_patterns",
    "worker": "import pipeline.actors",
}


@pytest.mark.parametrize("process", sorted(STARTS))
def test_a_process_starts_without_the_parsers_and_the_graph_client(process, tmp_path):
    code = f"import json, sys; {STARTS[process]}; print(json.dumps(sorted(sys.modules)))"
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="webapp.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        STATE_DIR=str(tmp_path / "state"),
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=BASE_DIR, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "django" in loaded and "pipeline.dte" in loaded, "it did import the app"
    assert [name for name in HEAVY if name in loaded] == []
