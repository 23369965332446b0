# The few verbs people type. `make demo` works on a fresh clone; `make test` runs the suite.
# Test tiers by folder (docs/testing.md): test-unit = tests/unit; test = tests/unit + tests/integration;
# test-services = tests/services; test-compose = tests/compose (the podman stack).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
export MLCYCLE_HOME ?= $(CURDIR)/.mlcycle
export AIRFLOW_HOME ?= $(MLCYCLE_HOME)/airflow

.PHONY: install demo test-unit test test-services test-compose runtime-lock lint format audit bench up clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv==0.13.8
	# .pyc at install time: with PYTHONDONTWRITEBYTECODE set, every task process would otherwise
	# compile Airflow from source (benchmarks/README.md, task start)
	$(UV) pip install -q --compile-bytecode --python $(PY) -r requirements.lock
	$(UV) pip install -q --python $(PY) --no-deps -e .
	touch $@

demo: install
	$(VENV)/bin/mlcycle demo

test-unit: install
	$(PY) -m pytest tests/unit

test: install
	$(PY) -m pytest -m "not services and not compose"

test-services: install
	$(PY) -m pytest -m services

# The compose stack built and run for real with podman (docs/compose-test.md; `.ci/run` calls it).
test-compose: install
	deploy/compose-test/run.sh

# requirements-runtime.lock (the image's lock, with hashes): pyproject's dependencies resolved within
# requirements.lock's pins, for Debian bookworm's Python 3.11.2 (the oldest 3.11 the image may run).
# The dev-only packages are pyproject's `dev` extra. Regenerate after every change to requirements.lock;
# tests/integration/deploy/test_runtime_lock.py fails while they disagree.
runtime-lock: install
	{ echo "# The project image's lock (Dockerfile: pip install --require-hashes). Generated from requirements.lock:"; \
	  echo "# make runtime-lock. Do not edit by hand."; \
	  $(UV) pip compile pyproject.toml -c requirements.lock --generate-hashes --python-version 3.11.2 \
	    --python-platform x86_64-unknown-linux-gnu --no-header --no-annotate -q; } > requirements-runtime.lock

lint: install
	$(VENV)/bin/ruff check src tests dags plugins benchmarks
	$(VENV)/bin/ruff format --check src tests dags plugins benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/mlcycle lint --deep
	$(VENV)/bin/bandit -q -r src/

format: install
	$(VENV)/bin/ruff format src tests dags plugins benchmarks
	$(VENV)/bin/ruff check --fix src tests dags plugins benchmarks

# Known vulnerabilities in the lockfile (needs PyPI's JSON API; --strict fails when a package
# cannot be audited, so an unreachable service is a failure, never a silent pass) and bandit.
audit: install
	$(VENV)/bin/bandit -q -r src/
	$(VENV)/bin/pip-audit --strict --progress-spinner off --no-deps --disable-pip -r requirements.lock

bench: install
	nice -n 5 $(PY) benchmarks/run_all.py

up: install
	$(VENV)/bin/mlcycle up

clean:
	rm -rf .mlcycle data/demo
