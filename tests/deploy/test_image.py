"""The image: locked dependencies in a layer of their own before the code, and a build context without local state.

.dockerignore keeps a checkout's virtualenv, state folder, .env files, git history and caches out of
`docker build` (and so out of any layer, and the daemon), yet sends every path the Dockerfile copies.
Patterns are matched as Docker does: relative to the context, `*` within one path segment, `**` across
any number, a pattern that matches a folder excludes what is in it, the last matching line wins, `!` re-includes.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from functools import cache

import pytest

from pipeline.config import BASE_DIR

DOCKERFILE = BASE_DIR / "Dockerfile"
DOCKERIGNORE = BASE_DIR / ".dockerignore"
LOCK = "requirements.lock"
#: What a checkout holds that must never reach the build: one path for each kind.
LOCAL_ONLY = [
    ".venv/bin/python",
    "venv/lib/python3.11/site-packages/django/__init__.py",
    "var/db.sqlite3",
    "var/local.env",
    "var/redis/appendonly.aof",
    ".env",
    ".env.local",
    ".env.production",
    "deploy/k8s/.env",
    ".git/HEAD",
    ".git/objects/ab/cdef",
    "pipeline/__pycache__/config.cpython-311.pyc",
    "webapp/inbox/__pycache__/views.cpython-311.pyc",
    "pipeline/config.pyc",
    "invoice_mail.egg-info/PKG-INFO",
    "test-artifacts/browser/screenshot.png",
    "test-results/trace.zip",
    "playwright-report/index.html",
    ".cache/ms-playwright/chromium-1140/chrome",
    "node_modules/playwright/package.json",
    "bench/results.json",
    ".pytest_cache/v/cache/lastfailed",
    ".mypy_cache/3.11/pipeline/config.data.json",
    ".ruff_cache/CACHEDIR.TAG",
    ".coverage",
    "htmlcov/index.html",
    "staticfiles/admin/css/base.css",
    "tests/unit/test_config.py",
]


def _segment(part: str) -> str:
    """One segment of a pattern: `*` and `?` stay within it, `[...]` is a class of characters, the rest is literal."""
    regex, i = "", 0
    while i < len(part):
        char = part[i]
        if char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[" and "]" in part[i + 1 :]:
            end = part.index("]", i + 1)
            regex += f"[{part[i + 1 : end]}]"
            i = end
        else:
            regex += re.escape(char)
        i += 1
    return regex


def _pattern(line: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression over a context-relative path; `**` spans any segments."""
    parts = [part for part in line.strip().strip("/").split("/") if part not in ("", ".")]
    regex = ""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            regex += ".*" if last else "(?:.*/)?"
        else:
            regex += _segment(part) + ("" if last else "/")
    return re.compile(regex)


@cache
def _rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(excludes, pattern) for each line of .dockerignore, in order."""
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            exclusion = line.startswith("!")
            rules.append((not exclusion, _pattern(line.removeprefix("!"))))
    return rules


def excluded(path: str, rules: list[tuple[bool, re.Pattern[str]]] | None = None) -> bool:
    """Whether `docker build` leaves `path` (relative to the context) out: the last rule matching it or a folder above."""
    segments = path.strip("/").split("/")
    prefixes = ["/".join(segments[: n + 1]) for n in range(len(segments))]
    result = False
    for excludes, pattern in _rules() if rules is None else rules:
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            result = excludes
    return result


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments left out."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")),
    )
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def copies() -> list[tuple[int, list[str]]]:
    """(position among the instructions, sources) of every COPY from the build context."""
    found = []
    for position, (word, rest) in enumerate(instructions()):
        if word == "COPY":
            args = [arg for arg in shlex.split(rest) if not arg.startswith("--")]
            assert not any(arg.startswith("--from") for arg in shlex.split(rest)), "only the build context is copied"
            found.append((position, args[:-1]))
    return found


def tracked_files(path: str) -> list[str]:
    """The files git tracks at or under `path`: what a fresh clone sends to `docker build`."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--", path], cwd=BASE_DIR, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout: {exc}")
    return listed.stdout.splitlines()


# --- .dockerignore ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        (["var"], "var/redis/dump.rdb", True),
        (["var"], "pipeline/var.py", False),
        (["*.egg-info"], "invoice_mail.egg-info/PKG-INFO", True),
        (["*.egg-info"], "pipeline/x.egg-info", False),  # no ** : the context's top folder only
        (["**/__pycache__"], "__pycache__/a.pyc", True),
        (["**/__pycache__"], "webapp/inbox/__pycache__/a.pyc", True),
        (["**/*.py[cod]"], "pipeline/config.pyc", True),
        (["**/*.py[cod]"], "pipeline/config.py", False),
        (["**/.env.*"], "deploy/.env.local", True),
        (["/tests/"], "tests/unit/x.py", True),
        (["bench", "!bench/keep.json"], "bench/keep.json", False),
        (["bench", "!bench/keep.json"], "bench/results.json", True),
        (["d?cs"], "docs/a.png", True),
    ],
)
def test_patterns_are_matched_as_docker_does(patterns, path, expected):
    rules = [(not p.startswith("!"), _pattern(p.removeprefix("!"))) for p in patterns]
    assert excluded(path, rules) is expected


@pytest.mark.parametrize("path", LOCAL_ONLY)
def test_the_dockerignore_keeps_what_is_local_out_of_the_build(path):
    assert excluded(path), f"{path} would be sent to docker build"


def test_every_path_the_dockerfile_copies_is_sent():
    sources = [source for _, paths in copies() for source in paths]
    assert {LOCK, "pipeline", "webapp", "locale", "bin", "manage.py"} <= set(sources)
    for source in sources:
        files = tracked_files(source)
        assert files, f"COPY {source}: git tracks nothing there"
        assert [file for file in files if excluded(file)] == [], f"COPY {source}: .dockerignore leaves these out"
    assert not excluded("locale/es/LC_MESSAGES/django.mo"), "the compiled catalogue is what the image serves"


# --- the Dockerfile -----------------------------------------------------------------------------------------


def test_the_locked_dependencies_are_a_layer_before_any_code():
    steps = instructions()
    (first_copy, first_sources), *later = copies()
    assert first_sources == [LOCK], "the dependency layer is built from the lock file alone"
    install = next(i for i, (word, rest) in enumerate(steps) if word == "RUN" and f"-r {LOCK}" in rest)
    assert first_copy < install
    assert "--require-hashes" in steps[install][1]
    assert all(position > install for position, _ in later), "code copied before the dependencies' layer"


def test_the_image_installs_nothing_the_lock_does_not_pin():
    runs = [rest for word, rest in instructions() if word == "RUN" and "pip install" in rest]
    for run in runs:
        for command in run.split("&&"):
            if "pip install" not in command:
                continue
            words = shlex.split(command)
            locked = "--require-hashes" in words and words[words.index("-r") + 1] == LOCK
            project_only = {"--no-deps", "--no-build-isolation"} <= set(words)
            assert locked or project_only, f"{command.strip()}: resolves or builds with packages the lock does not pin"
    backend = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["build-system"]["requires"]
    lock = (BASE_DIR / LOCK).read_text()
    for requirement in backend:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)[0].lower()
        assert re.search(rf"^{re.escape(name)}==\S+ \\\n\s+--hash=sha256:", lock, flags=re.MULTILINE), (
            f"the build backend {name} is not pinned with hashes in {LOCK}"
        )
