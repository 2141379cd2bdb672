# The command index. Workflows, dvc.yaml and tests call the same commands.
# `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# uv runs everything from the locked environment; installed on first use if missing.
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
RUN := $(UV) run --frozen
PORT ?= 3000
export UV_PYTHON ?= 3.11

.PHONY: help setup run repro test test-fast lint fmt bench clean

help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## install uv if missing and sync the locked environment
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv \
		|| python3 -m pip install --quiet --user --break-system-packages uv
	$(UV) sync --frozen --compile-bytecode

run: setup ## set up, pull the sample data and run the whole pipeline
	$(RUN) dvc pull data.dvc
	$(RUN) dvc repro
	@echo "Done. Metrics: metrics/metrics.json; runs: '$(UV) run mlflow ui --backend-store-uri sqlite:///mlflow.db'"

repro: ## re-run the pipeline stages whose inputs changed
	$(RUN) dvc repro

test: setup ## the full test suite (what CI runs)
	$(RUN) pytest -n 2

test-fast: setup ## tests without the slow end-to-end ones
	$(RUN) pytest -n 2 -m "not slow"

lint: setup ## ruff, mypy and the lockfile check
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(UV) lock --check

fmt: setup ## apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

bench: setup ## pipeline benchmark (benchmarks/pipeline.py), writes JSON to .bench/
	$(RUN) python benchmarks/pipeline.py --out .bench/pipeline.json

clean: ## remove local caches and outputs that DVC can restore
	rm -rf .pytest_cache .mypy_cache .ruff_cache .bench
