# Entrepôt: the two set-up commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps test lint typecheck pytest demo demo-stop bench clean

# The venv, the project with its test extras. Re-run when pyproject.toml changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) system-deps

# PostgreSQL and MariaDB server binaries, and Azurite (npm, into node_modules/), for the
# tests' and the demo's throwaway servers.
system-deps:
	@bash scripts/install-system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports --no-cache --no-logo  # the import rules: [tool.importlinter] in pyproject.toml

typecheck: $(STAMP)
	$(BIN)/mypy

# The fixtures start (and always stop) every service the tests use, on free loopback ports.
pytest: install
	$(BIN)/pytest -q $(PYTEST_ARGS)

test: install lint typecheck pytest

demo: install
	@bash scripts/demo.sh

demo-stop:
	@$(BIN)/python -m scripts.services postgres stop --dir .demo/postgres
	@$(BIN)/python -m scripts.services azurite stop --dir .demo/azurite

bench: install
	$(BIN)/python bench/apply_get.py
	$(BIN)/python bench/authorize.py

clean: demo-stop
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache node_modules
