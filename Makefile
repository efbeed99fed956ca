# The README's two set-up commands are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint wheel-check bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(BIN)/safeship demo

# Two pytest workers per core (pytest-xdist): most tests wait on processes, servers and bakes
# rather than compute, so a core has work while a test waits. On the 2-core machine (whole
# suite, other jobs keeping the load at 4-10): -n 2 847 s, -n 3 765 s, -n 4 510 s (and 417 s
# at load 4-6, all passing). Each worker starts its own PostgreSQL, and every test its own
# Redis, nginx and demo processes, on free ports in its own temporary directories. worksteal:
# an idle worker takes queued tests from a busy one (the e2e tests take much longer than the
# unit tests). The 25 slowest tests are listed at the end. Whole suite, quiet machine
# (2026-12-01, 1,950 tests with the production gates'): -n 4 324-344 s, and CPU-bound (626 s
# of CPU on 2 cores), so more workers would not help; the cost is mostly CLI processes' imports.
# With secret rotation (2,054 tests; its acceptance test under load is ~30 s alone): 375 s in
# `bash .ci/run` on a fresh clone, over the 5-minute budget.
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(2 * (os.cpu_count() or 1))')

test: $(VENV)/.dev
	bash scripts/install-test-deps.sh
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal --durations=25

lint: $(VENV)/.dev
	$(BIN)/ruff check src testing tests benchmarks
	$(BIN)/ruff format --check src testing tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# The built wheel installs into a fresh venv without dev dependencies and runs `safeship --help`
# and `safeship demo` from an empty directory (issue 12: fixtures stay out of the package).
wheel-check: $(BIN)/python
	bash scripts/check_wheel.sh $(BIN)/python

# docs/reference.md: every key of safeship.toml, from the config models (a test checks it is current).
docs: $(VENV)/.dev
	$(BIN)/python scripts/gen_reference.py

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/cli_startup.py
	$(BIN)/python benchmarks/rollback_time.py
	$(BIN)/python benchmarks/health_fanout.py
	$(BIN)/python benchmarks/env_check.py
	$(BIN)/python benchmarks/prepush.py
	$(BIN)/python benchmarks/judge_false_alarms.py
	$(BIN)/python benchmarks/judge_real_deploys.py
	$(BIN)/python benchmarks/router_overhead.py
	$(BIN)/python benchmarks/crash_chaos.py
	$(BIN)/python benchmarks/notify.py
	PYTHONPATH=.:benchmarks $(BIN)/python benchmarks/dashboard.py
	PYTHONPATH=.:benchmarks $(BIN)/python benchmarks/analytics.py
	PYTHONPATH=. $(BIN)/python benchmarks/gates.py
	PYTHONPATH=. $(BIN)/python benchmarks/rotation.py
	PYTHONPATH=.:benchmarks $(BIN)/python benchmarks/fleet.py

clean:
	rm -rf $(VENV) .safeship .pytest_cache .mypy_cache .ruff_cache
