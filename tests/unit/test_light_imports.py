"""The web and the worker start, and parse and draw, without the libraries only the sandbox's child needs.

lxml and cryptography (the DTE parsers, about 15 MB a process) and PDFium, Pillow and reportlab
(about 12 MB) load in the child that parses or draws; requests only where a Microsoft 365 mailbox
is read. Each process is a fresh interpreter here, importing what the Procfile's web and worker import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipeline import samples
from pipeline.config import BASE_DIR

#: Loaded by neither process at start.
HEAVY = ("lxml", "cryptography.hazmat", "cryptography.x509", "requests", "pipeline.dte.registry")
#: Nor by one that parses a DTE, prints it and draws a PDF's first page.
DRAWING = ("lxml", "cryptography.hazmat", "PIL", "pypdfium2", "reportlab", "pdf417gen", "pipeline.render.printable")

STARTS = {
    "web": "import webapp.wsgi; from django.urls import get_resolver; get_resolver().url_patterns",
    "worker": "import pipeline.actors",
}


@pytest.mark.parametrize("process", sorted(STARTS))
def test_a_process_starts_without_the_parsers_and_the_graph_client(process, tmp_path):
    loaded = _modules_after(STARTS[process], tmp_path)
    assert "django" in loaded and "pipeline.dte" in loaded, "it did import the app"
    assert [name for name in HEAVY if name in loaded] == []


def test_the_web_master_loads_its_worker_class_without_what_only_a_worker_uses(tmp_path):
    """gunicorn's master imports the worker class too; the sandbox and ctypes (the trim) load in the worker."""
    loaded = _modules_after(
        "import gunicorn.arbiter, gunicorn.workers.gthread; import webapp.gunicorn_worker", tmp_path
    )
    assert "webapp.gunicorn_worker" in loaded
    assert [name for name in ("pipeline.sandbox", "ctypes", "django") if name in loaded] == []


def test_every_dte_module_imports_first():
    """pipeline.dte loads its parsers lazily, so any of its modules may be the first one imported."""
    names = sorted(f"pipeline.dte.{path.stem}" for path in (BASE_DIR / "pipeline" / "dte").glob("[a-z]*.py"))
    started = {
        name: subprocess.Popen([sys.executable, "-c", f"import {name}"], cwd=BASE_DIR, stderr=subprocess.PIPE)
        for name in names
    }
    failed = {name: process.communicate()[1].decode()[-300:] for name, process in started.items() if process.wait()}
    assert len(names) > 10 and failed == {}


def test_parsing_printing_and_drawing_load_nothing_heavy_where_they_are_called(tmp_path):
    (tmp_path / "dte.xml").write_bytes(samples.dte_xml(folio=501))
    (tmp_path / "invoice.pdf").write_bytes(samples.invoice_pdf(issuer_name="Austral", folio=501, total=1190))
    work = (
        "from pipeline.dte import parse_path; from pipeline.render.calls import pdf_thumbnail, printable_pdf; "
        f"(doc,) = parse_path({str(tmp_path / 'dte.xml')!r}).documents; "
        f"assert printable_pdf(doc).startswith(b'%PDF'); "
        f"assert pdf_thumbnail({str(tmp_path / 'invoice.pdf')!r}).startswith(b'\\x89PNG')"
    )
    loaded = _modules_after(work, tmp_path)
    assert "pipeline.render.calls" in loaded
    assert [name for name in DRAWING if name in loaded] == []


def _modules_after(statements: str, tmp_path) -> set[str]:
    """The modules a fresh interpreter holds after `statements`."""
    code = f"import json, sys; {statements}; print(json.dumps(sorted(sys.modules)))"
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="webapp.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        STATE_DIR=str(tmp_path / "state"),
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=BASE_DIR, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))
