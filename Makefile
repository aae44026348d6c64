# PhotoAndVideoAnalysis — two commands on a fresh Debian machine: `make run` and `make test`.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
PVA   := $(VENV)/bin/pva
export PYTHONUNBUFFERED := 1

.PHONY: help install run up down status serve functions test test-faults test-browser bench lint clean

help:
	@echo "make run          install what is missing, start the embedded stack, functions and web UI"
	@echo "make test         run the test suite (starts the services it needs)"
	@echo "make test-faults  the long fault-injection suite"
	@echo "make bench        benchmarks (figures and ratios)"
	@echo "make up|down|status  the embedded stack only"

install:
	@bash scripts/install.sh

up: install
	@$(PVA) up

down:
	@if [ -x $(PVA) ]; then $(PVA) down; fi

status:
	@$(PVA) status

# Start everything for one machine and serve the UI (Ctrl-C stops functions and gateway; `make down` the stack).
run: install
	@bash scripts/run.sh

lint: install
	@$(VENV)/bin/ruff check pva gateway functions tests bench

test: install lint
	@$(PVA) up
	@$(VENV)/bin/pytest -q $(PYTEST_ARGS)

test-faults: install
	@$(PVA) up
	@$(VENV)/bin/pytest -q -m faults $(PYTEST_ARGS)

test-browser: install
	@$(PVA) up
	@$(VENV)/bin/pytest -q -m browser $(PYTEST_ARGS)

bench: install
	@$(PVA) up
	@set -e; for b in bench/[!_]*.py; do echo "=== $$b"; $(PY) $$b; done

clean:
	rm -rf build *.egg-info .pytest_cache artifacts
