# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
STAMP := $(VENV)/.installed

.PHONY: run test bench venv clean

run: $(STAMP)
	$(VENV)/bin/python -m webapp.run_local

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Memory and speed budget against the old way (~10 min; BENCH_QUICK=1 for ~3): prints a table, writes bench/results.json.
bench: $(STAMP)
	$(VENV)/bin/python -m bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) var
