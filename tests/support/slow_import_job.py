"""A sandbox call whose module, imported in the sandbox's child, costs more CPU than the call may use.

As PDFium, reportlab or lxml do in a fresh child. Imported elsewhere (the test that sends the
call) it costs nothing.
"""

from __future__ import annotations

from pipeline import sandbox_child
from tests.support.sandbox_jobs import spin

IMPORT_CPU_SECONDS = 2.0
if sandbox_child.IN_CHILD:
    spin(IMPORT_CPU_SECONDS)


def cpu_used() -> float:
    """The CPU time this process has used in all."""
    return spin(0)
