# lossledger: `make run` and `make test` are the two commands; both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
UV_ON_PATH := $(shell command -v uv 2>/dev/null)
UV := $(if $(UV_ON_PATH),$(UV_ON_PATH),$(PYTHON) -m uv)
VENV := .venv
BIN := $(VENV)/bin

# Prefect runs locally in its ephemeral mode, with its own home, telling nobody anything.
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_LOGGING_LEVEL ?= WARNING
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120
# Byte-compile the venv at setup: where Python may not write .pyc files (PYTHONDONTWRITEBYTECODE,
# read-only images) every `lossledger run` would otherwise compile Prefect anew (~1-2 s).
export UV_COMPILE_BYTECODE ?= 1

.PHONY: setup run test lint bench clean

# The project's own modules are byte-compiled too (an editable install is not, and where
# Python may not write .pyc files each process would compile them anew: ~0.1 s a run).
# Up to date, this takes some 0.04 s; a read-only checkout only goes without.
setup: $(VENV)/.synced
	@$(BIN)/python -m compileall -q lossledger flows schemas >/dev/null 2>&1 || true

$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --locked --python 3.11
	@touch $@

run: setup
	$(BIN)/lossledger run --home data --inbox data/samples/inbox
	$(BIN)/lossledger status --home data
	@$(BIN)/lossledger report --wait --home data >/dev/null  # the run refreshes it in the background
	@echo "report: $(CURDIR)/data/report/index.html (open it in a browser)"

test: setup
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.readers
	$(BIN)/python -m bench.report

clean:
	rm -rf data/events.sqlite* data/warehouse data/warehouse.versions data/cache .prefect
