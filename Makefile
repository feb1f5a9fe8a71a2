# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
STAMP := $(VENV)/.installed
# Exact versions with hashes; pyproject.toml keeps the ranges. `make lock` refreshes both files.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock

.PHONY: run test lint format lock bench venv clean

run: $(STAMP)
	$(VENV)/bin/python -m webapp.run_local

# The suite in TEST_PROCESSES processes (pytest-xdist; a module's tests stay in one, see tests/conftest.py);
# TEST_PROCESSES=0 runs it in this one.
TEST_PROCESSES ?= 2

test: $(STAMP)
	$(VENV)/bin/python -m pytest -n $(TEST_PROCESSES) --dist loadgroup $(PYTEST_ARGS)

# The checks CI runs before the tests: formatting, lint and types. `make format` fixes what it can.
lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Re-resolve after pyproject.toml changes, keeping every pin that still fits;
# `make lock LOCK_ARGS=--upgrade` moves everything to the newest versions the ranges allow.
lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --quiet $(LOCK_ARGS) -o $(LOCK)
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --quiet $(LOCK_ARGS) \
		--extra test --extra lint -o $(DEV_LOCK)

# Every figure beside its target, its anchors and the previous run's (~15 min; BENCH_QUICK=1 for less):
# prints one table, writes bench/results.json, fails when a target is missed. BENCH_ONLY=stack,mime runs some.
bench: $(STAMP)
	$(VENV)/bin/python -m bench

venv: $(STAMP)

$(STAMP): pyproject.toml $(DEV_LOCK)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

clean:
	rm -rf $(VENV) var
