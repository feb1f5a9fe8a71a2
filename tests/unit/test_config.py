"""pipeline/config.py declares every environment variable; the code, the Procfile and .env.example agree with it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import config
from pipeline.config import BASE_DIR

#: The Python that runs in our processes; pipeline/config.py is the one module that reads os.environ.
SOURCES = sorted(
    [
        *BASE_DIR.joinpath("pipeline").rglob("*.py"),
        *BASE_DIR.joinpath("webapp").rglob("*.py"),
        BASE_DIR / "scheduler.py",
        BASE_DIR / "gunicorn.conf.py",
    ]
)
SETTINGS_MODULE = BASE_DIR / "pipeline" / "config.py"
#: The Procfile's default for LOG_FORMAT is json (for log pipelines); a command run by hand logs plain lines.
#: It binds every address (a platform's router must reach it); make run binds 127.0.0.1 unless told otherwise.
PROCFILE_OWN_DEFAULTS = {"LOG_FORMAT": "json", "WEB_BIND": "0.0.0.0"}


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def environment_reads(source: str) -> list[str]:
    """Where `source` reads os.environ itself (get, pop, [...], `in`, getenv); setdefault and copies are writes."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in {"get", "pop"} and _is_environ(func.value):
                found.append(f"line {node.lineno}: environ.{func.attr}")
            elif (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
                isinstance(func, ast.Name) and func.id == "getenv"
            ):
                found.append(f"line {node.lineno}: getenv")
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value):
            found.append(f"line {node.lineno}: environ[...]")
        elif isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
            found.append(f"line {node.lineno}: ... in environ")
    return found


def settings_read(source: str) -> set[str]:
    """The names passed as a literal to `config.get(...)` (or to `get(...)` inside pipeline/config.py)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
            continue
        func = node.func
        by_module = isinstance(func, ast.Attribute) and func.attr == "get" and getattr(func.value, "id", "") == "config"
        if by_module or (isinstance(func, ast.Name) and func.id == "get"):
            names.add(node.args[0].value)
    return names


def python_reads() -> set[str]:
    """Every variable the Python of our processes reads through `config.get`."""
    return set().union(*(settings_read(path.read_text()) for path in SOURCES))


def _procfile_defaults() -> dict[str, str | None]:
    """Every ${NAME} or ${NAME:-default} in the Procfile."""
    text = (BASE_DIR / "Procfile").read_text()
    return {name: default or None for name, default in re.findall(r"\$\{([A-Za-z_]\w*)(?::-([^}]*))?\}", text)}


def env_example_names(*, set_only: bool = False) -> list[str]:
    """Variables in .env.example, set (`NAME=`) or shown commented out (`# NAME=`); `set_only`: the set ones."""
    text = (BASE_DIR / ".env.example").read_text()
    return re.findall(r"^([A-Z][A-Z0-9_]*)=" if set_only else r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)


def test_the_scanner_sees_every_way_of_reading_the_environment():
    source = (
        "import os\nfrom os import environ, getenv\n"
        "a = os.environ.get('A')\nb = os.getenv('B')\nc = os.environ['C']\nd = getenv('D')\n"
        "e = environ.pop('E', None)\nf = 'F' in os.environ\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'x')\nchild = dict(os.environ, G='1')\n"
        "h = config.get('H')\n"
    )
    assert sorted(read.split(": ")[0] for read in environment_reads(source)) == [f"line {n}" for n in range(3, 9)]
    assert settings_read(source) == {"H"}


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if p != SETTINGS_MODULE], ids=lambda path: str(path.relative_to(BASE_DIR))
)
def test_no_module_but_the_settings_module_reads_the_environment(path):
    assert environment_reads(path.read_text()) == [], f"read it through pipeline.config.get in {path}"


def test_every_variable_the_code_reads_is_declared():
    read = python_reads()
    assert {"DATABASE_URL", "GRAPH_CLIENT_SECRET", "METRICS_TOKEN", "WORKER_MAX_RSS_MB"} <= read  # the scan works
    assert read - set(config.SETTINGS) == set()


def test_every_declared_variable_is_read_by_the_code_or_the_procfile():
    assert set(config.SETTINGS) - python_reads() - set(_procfile_defaults()) == set()


def test_the_procfile_reads_declared_variables_with_the_declared_defaults():
    for name, default in _procfile_defaults().items():
        assert name in config.SETTINGS, f"the Procfile reads {name}: declare it in pipeline/config.py"
        expected = PROCFILE_OWN_DEFAULTS.get(name, str(config.SETTINGS[name].default))
        assert default == expected, f"the Procfile's default for {name} is {default!r}, the declared one {expected!r}"


def test_env_example_lists_every_variable_once_and_nothing_else():
    listed = env_example_names()
    assert sorted({name for name in listed if listed.count(name) > 1}) == []
    expected = set(config.SETTINGS) | set(config.LIBRARY_VARIABLES) | set(_procfile_defaults())
    assert sorted(expected - set(listed)) == [], "missing from .env.example"
    assert sorted(set(listed) - expected) == [], "listed in .env.example but nothing reads it"


def test_the_readme_configuration_table_names_only_declared_variables():
    readme = (BASE_DIR / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    named = set(
        re.findall(
            r"`([A-Z][A-Z0-9_]+)`",
            "\n".join(line.split("|")[1] for line in table.splitlines() if line.startswith("| `")),
        )
    )
    assert {"SECRET_KEY", "DATABASE_URL", "WEB_CONCURRENCY"} <= named
    assert sorted(named - set(config.SETTINGS)) == []


def test_every_setting_says_what_it_is_for():
    for setting in config.SETTINGS.values():
        assert setting.kind in {bool, int, float, str, list}, setting.name
        assert setting.description.strip(), setting.name
        assert setting.default is None or isinstance(setting.default, tuple if setting.kind is list else setting.kind)


def test_unset_or_blank_is_the_default(monkeypatch):
    monkeypatch.delenv("WORKER_MAX_MESSAGES", raising=False)
    assert config.get("WORKER_MAX_MESSAGES") == 10_000
    monkeypatch.setenv("WORKER_MAX_MESSAGES", "  ")
    assert config.get("WORKER_MAX_MESSAGES") == 10_000
    monkeypatch.setenv("WORKER_MAX_MESSAGES", " 7 ")
    assert config.get("WORKER_MAX_MESSAGES") == 7


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("YES", True), ("0", False), ("off", False), ("", False)]
)
def test_booleans_take_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("WORKER_PROMETHEUS", raw)
    assert config.get("WORKER_PROMETHEUS") is expected


def test_an_unknown_boolean_is_an_error(monkeypatch):
    monkeypatch.setenv("WORKER_PROMETHEUS", "maybe")
    with pytest.raises(config.ConfigError, match="WORKER_PROMETHEUS='maybe' is not a boolean"):
        config.get("WORKER_PROMETHEUS")


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("WORKER_THREADS", "two", "is not an integer"),
        ("WORKER_THREADS", "2.5", "is not an integer"),
        ("GRAPH_READ_TIMEOUT", "soon", "is not a number"),
        ("WORKER_THREADS", "0", "below its minimum 1"),
        ("GRAPH_READ_TIMEOUT", "0", "below its minimum"),
        ("WORKER_IDLE_POLL_MS", "50", "below its minimum 100"),
        ("PORT", "70000", "above its maximum 65535"),
        ("LOG_FORMAT", "xml", "use one of plain, json"),
        ("STORAGE_BACKEND", "ftp", "use one of local, s3"),
    ],
)
def test_a_value_out_of_its_bounds_is_an_error(monkeypatch, name, raw, message):
    monkeypatch.setenv(name, raw)
    with pytest.raises(config.ConfigError, match=f"^{name}=.*{message}"):
        config.get(name)


def test_a_choice_is_matched_without_regard_to_case(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "warning")
    monkeypatch.setenv("STORAGE_BACKEND", "S3")
    assert (config.get("LOG_LEVEL"), config.get("STORAGE_BACKEND")) == ("WARNING", "s3")


def test_a_list_is_comma_separated(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", " a.example.com, ,b.example.com ")
    assert config.get("ALLOWED_HOSTS") == ["a.example.com", "b.example.com"]
    monkeypatch.delenv("ALLOWED_HOSTS")
    config.get("ALLOWED_HOSTS").append("mutated")
    assert config.get("ALLOWED_HOSTS") == ["localhost", "127.0.0.1"]


def test_an_undeclared_name_is_an_error():
    with pytest.raises(config.ConfigError, match="NOT_A_SETTING is not declared"):
        config.get("NOT_A_SETTING")


def test_a_bad_value_stops_a_process_at_start(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "STATE_DIR": str(tmp_path), "WORKER_THREADS": "0"}
    result = subprocess.run(
        [sys.executable, "-c", "import pipeline.config"],
        cwd=Path(BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ConfigError: WORKER_THREADS=0 is below its minimum 1" in result.stderr
