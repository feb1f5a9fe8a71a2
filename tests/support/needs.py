"""What a test needs from the machine: skipped where it is missing, a failure under CI.

CI (`.ci/run`, with `CI` set) installs everything the README's "Tests" section lists, so
there a missing binary or service is a broken set-up to see, not tests to leave out.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

from tests.support.postgres import find_pg_bin

#: Values of `CI` that mean "not under CI".
NOT_CI = {"", "0", "false", "no", "off"}


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in NOT_CI


def missing(what: str, *, install: str) -> NoReturn:
    """Skip the test for want of `what`; under CI fail it, since CI must have installed it."""
    reason = f"{what} not found; install it with: {install}"
    if on_ci():
        pytest.fail(f"{reason} (CI is set: a missing one fails the run)", pytrace=False)
    pytest.skip(reason)


def pg_bin() -> Path:
    """The folder of initdb, pg_ctl and postgres (see find_pg_bin)."""
    found = find_pg_bin()
    if found is None:
        missing("PostgreSQL (initdb, pg_ctl, postgres)", install="apt-get install -y postgresql, or set PG_BIN")
    return found


def chromium() -> str:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    missing("chromium", install="apt-get install -y chromium")


def libfaketime() -> str:
    """libfaketime, to preload into a process of ours so that its clock is moved (faketime's own library)."""
    for folder in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib"):
        for name in ("faketime/libfaketime.so.1", "libfaketime.so.1"):
            if (path := Path(folder) / name).exists():
                return str(path)
    missing("libfaketime", install="apt-get install -y faketime")
