# The two commands of the README:
#   make repro   set up .venv from the lock file, then `dvc repro` every pipeline, then show metrics
#   make test    same set-up, then the test suite (make test-fast: unit and shape tests only)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Quiet, offline-friendly defaults for DVC and Prefect (see also docs/configuration.md, "Environment").
export DVC_NO_ANALYTICS := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export PREFECT_LOGGING_LEVEL ?= WARNING
export MPLBACKEND := Agg
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help setup repro test test-fast bench lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): requirements/lock.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/lock.txt
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the pinned dependencies

repro: setup  ## run every pipeline on the embedded default data (only what changed runs)
	$(BIN)/dvc repro
	@echo; echo "Headline metrics, one per pipeline of dvc.yaml (all of them: python -m pipelines metrics; DVC's table: dvc metrics show):"
	@$(BIN)/python -m pipelines metrics --headline
	@echo; echo "Results are in artifacts/<pipeline>/<stage>/; figures are the *.png files there."

# Three workers on two cores: the end-to-end tests spend part of their time waiting (servers starting,
# processes importing, disk), and a third worker fills it. Whole files per worker, longest first
# (tests/conftest.py orders them), and the 15 slowest tests printed at the end.
test: setup  ## run the whole test suite, end-to-end tests included (what CI runs), on three workers
	$(BIN)/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder --durations=15

# Two workers: the unit tests are CPU work (116 s on two workers vs 140 s in one process, measured on
# a host with other load; docs/testing.md).
test-fast: setup  ## unit and shape tests only: no dvc repro, Prefect server or torchrun (the inner loop)
	$(BIN)/python -m pytest -m "not e2e" -n 2 --durations=15

bench: setup  ## run the benchmarks (figures printed and written to benchmarks/results/)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lock:  ## re-resolve requirements/requirements.in into requirements/lock.txt
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv && .lockenv/bin/pip install --quiet -r requirements/requirements.in
	{ echo "# Exact pins, resolved from requirements/requirements.in by \`make lock\` (Python 3.11, x86_64)."; .lockenv/bin/pip freeze; } > requirements/lock.txt
	rm -rf .lockenv

clean:  ## remove pipeline outputs (the DVC cache keeps them; `dvc checkout` restores)
	rm -rf data/*/ artifacts/*/
