"""A fresh sandbox child imports the call's module before the call's limits are armed.

A child let go while idle starts afresh, and its first call imported PDFium, reportlab or lxml
inside that call's CPU cap: on a loaded machine, a legitimate file could go over on the imports.
"""

from __future__ import annotations

import threading

from pipeline import sandbox
from tests.support import slow_import_job

LIMITS = sandbox.Limits(memory_mb=256, cpu_seconds=1, wall_seconds=30)


def test_importing_the_calls_module_is_not_counted_against_its_cpu_cap():
    answers: list[object] = []

    def first_call() -> None:  # a thread of its own: a fresh child, that has not imported the module
        try:
            answers.append(sandbox.run(slow_import_job.cpu_used, task="the job", limits=LIMITS))
        except sandbox.SandboxError as exc:
            answers.append(exc)

    thread = threading.Thread(target=first_call)
    thread.start()
    thread.join()
    (used,) = answers
    assert isinstance(used, float), used
    assert used > slow_import_job.IMPORT_CPU_SECONDS > LIMITS.cpu_seconds, "the import ran in the child"
