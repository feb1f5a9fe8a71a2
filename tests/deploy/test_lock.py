"""The lock files pin, with hashes, a version inside every range pyproject.toml declares, and every
way of installing (make, Docker, Heroku) installs from them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

BASE_DIR = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())
#: `name==version \` opens each entry of a uv/pip-tools lock; its hashes follow on the next lines.
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+)", re.MULTILINE)


def pins(lock: str) -> dict[str, Version]:
    return {canonicalize_name(name): Version(v) for name, v in _PIN.findall((BASE_DIR / lock).read_text())}


def declared(*extras: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize(("lock", "extras"), [("requirements.lock", ()), ("requirements-dev.lock", ("test", "lint"))])
def test_the_lock_pins_every_declared_requirement_inside_its_range(lock, extras):
    pinned = pins(lock)
    for requirement in declared(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is in pyproject.toml but not in {lock}: run make lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {name}=={pinned[name]}, outside pyproject's {requirement.specifier}: run make lock"
        )


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_pin_carries_a_hash(lock):
    entries = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", (BASE_DIR / lock).read_text())
    unhashed = [entry.split()[0] for entry in entries if _PIN.match(entry) and "--hash=sha256:" not in entry]
    assert pins(lock) and not unhashed


def test_the_runtime_lock_is_the_dev_lock_minus_the_tools():
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert {name: dev.get(name) for name in runtime} == runtime, "make lock writes both from one resolution"


def test_make_docker_and_heroku_install_from_the_locks():
    makefile = (BASE_DIR / "Makefile").read_text()
    assert "--require-hashes -r $(DEV_LOCK)" in makefile and "--no-deps -e ." in makefile
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-deps ." in dockerfile
    requirements = [line for line in (BASE_DIR / "requirements.txt").read_text().splitlines() if line[:1] != "#"]
    assert requirements == ["-r requirements.lock"]
