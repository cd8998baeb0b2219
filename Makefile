# bounce-processor: the two commands of the README are `make demo` and `make test`.
# Every target does its own set-up: virtualenv + pip install, Maven fetch, local services.

# The virtualenv's interpreter: a CPython built with PGO and LTO runs this code about 13 %
# faster than one built without (pyenv's default); Debian's and Ubuntu's python3.11 are such
# builds, as is the python:3.11-slim image of the Dockerfile. Override to pick another.
PYTHON_BOOTSTRAP ?= $(firstword $(wildcard /usr/bin/python3.11) python3)
VENV ?= .venv
PY := $(VENV)/bin/python
SERVICES := services/services.sh
export PYTHON := $(abspath $(PY))

.PHONY: help venv services-fetch services-up services-down services-status services-reset \
        test test-unit test-integration lint typecheck demo bench clean

help:
	@echo "make demo            run the main job on the local default setup"
	@echo "make test            run every test (starts Kafka + Apicurio Registry locally)"
	@echo "make services-up     start the local Kafka broker and schema registry"
	@echo "make services-down   stop them;  make services-status: what runs where"
	@echo "make lint            ruff + mypy;  make bench: the benchmarks"

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV) || (rm -rf $(VENV) && python3 -m venv $(VENV))
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev,bench]'
	@touch $@

venv: $(VENV)/.installed

services-fetch:
	@bash $(SERVICES) fetch

services-up: venv
	@bash $(SERVICES) up

services-down:
	@bash $(SERVICES) down

services-status:
	@bash $(SERVICES) status

services-reset:
	@bash $(SERVICES) reset

test: venv services-up
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

test-integration: venv services-up
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check processor tests benchmarks
	$(VENV)/bin/ruff format --check processor tests benchmarks
	$(VENV)/bin/mypy

demo: venv services-up
	$(PY) -m processor.demo

bench: venv services-up
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) services/.run build *.egg-info
