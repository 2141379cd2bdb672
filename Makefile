# The command index. Workflows, dvc.yaml and tests call the same commands.
# `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# uv runs everything from the locked environment; installed on first use if missing.
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
# Each target's `uv run` installs what that target needs (pyproject.toml: the extras per job), and
# only adds: whatever else is installed stays. Targets without a line here get the dev group
# (everything). No bytecode compilation up front: Python compiles what it imports, once.
RUN = $(UV) run --frozen $(NEEDS)
repro exps recent monitor report gate pipeline-outputs retrain-branch: NEEDS := --no-dev --extra pipeline
serve bento: NEEDS := --no-dev --extra serving
run: NEEDS := --no-dev --extra pipeline --extra serving
bento-context deploy-status image image-context bootstrap-gitops install-argocd e2e: NEEDS := --no-dev --extra delivery
audit: NEEDS := --only-group audit
# The same sets for CI jobs, which then call `uv run --frozen --no-sync`.
SYNC := $(UV) sync --locked --inexact
export UV_PYTHON ?= 3.11
# For every recipe, `mlflow` and `dvc` ones too (mlapp's own commands set it as well); yours wins.
export MLFLOW_DISABLE_TELEMETRY ?= true

.PHONY: help setup run repro exps test test-fast lint fmt bench tune init clean

# `make help` lists the documented targets (`target: ## text`) in these groups; one that no group
# names shows under "more" (a test keeps that empty).
HELP_GROUPS := daily pulls delivery maintenance
HELP_daily := run repro exps tune test-fast test serve recent monitor
HELP_daily_TITLE := daily work
HELP_pulls := report gate
HELP_pulls_TITLE := pull requests
HELP_delivery := pipeline-outputs bento bento-context image image-context deploy-status bootstrap-gitops install-argocd e2e \
	retrain-branch
HELP_delivery_TITLE := delivery
HELP_maintenance := setup sync sync-core sync-pipeline sync-serving sync-delivery lint fmt lint-workflows lint-infra actionlint audit check-clean \
	bench bench-serve bench-score init clean help
HELP_maintenance_TITLE := maintenance
HELP_AWK := '/^[a-zA-Z0-9_-]+:.*\#\# / {desc[$$1] = $$2} END {\
	n = split(names, t, " "); for (i = 1; i <= n; i++) if (t[i] in desc) { shown[t[i]]; \
	if (!rest) printf "  make %-16s %s\n", t[i], desc[t[i]] } \
	if (rest) for (k in desc) if (!(k in shown)) printf "  make %-16s %s\n", k, desc[k] }'

help: ## list the targets, grouped
	@$(foreach g,$(HELP_GROUPS),printf '\n%s:\n' '$(HELP_$(g)_TITLE)'; \
		awk -F':.*\#\# ' -v names='$(HELP_$(g))' $(HELP_AWK) $(MAKEFILE_LIST);)
	@awk -F':.*\#\# ' -v rest=1 -v names='$(foreach g,$(HELP_GROUPS),$(HELP_$(g)))' $(HELP_AWK) \
		$(MAKEFILE_LIST) \
		| sed '1s/^/\nmore:\n/'

# pip --user (Debian's pip refuses the system site) puts the `uv` command in the user base's bin/,
# which a shell started before that folder existed does not have on PATH: make still finds uv
# (`python3 -m uv`), but README's `uv run ...` would be "command not found", so say how.
install-uv:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv \
		|| python3 -m pip install --quiet --user --break-system-packages uv
	@command -v uv >/dev/null || echo "note: uv is installed but not on PATH (make runs it as" \
		"\`python3 -m uv\`); for the \`uv run ...\` commands: export PATH=\"$$(python3 -m site --user-base)/bin:\$$PATH\""

setup: install-uv ## install uv if missing and the whole locked environment (dev tools included)
	@echo "== the locked environment with the dev tools (uv sync, quiet; \`make sync\` prints what it installs, \`uv pip list\` what is installed)"
	@$(SYNC) --quiet

run: install-uv ## install what it needs, pull the sample data, run the pipeline, serve the model locally and smoke-test it
	@echo "== 1/4 pull the sample data (the first run installs the pipeline's packages first)"
	@$(RUN) dvc pull data.dvc >/dev/null || { if $(RUN) dvc status data.dvc 2>/dev/null | grep -q 'modified:'; then \
		echo 'error: data/ has changes that data.dvc does not record (an edited or added file), and `dvc pull` does not overwrite them: to use them, `uv run dvc add data` first (then `uv run dvc push data.dvc`, and commit data.dvc); to drop them, `uv run dvc checkout --force data.dvc`.' >&2; \
		else echo 'error: `dvc pull data.dvc` failed (the ERROR lines of DVC above say why): a full disk (No space left on device) needs room for data/ and its copy in .dvc/cache; else its data is in neither the DVC cache nor the remote (where `dvc add data` ran: `uv run dvc push data.dvc`, and commit .dvc/sample-remote if that bundled remote is the one), or the remote cannot be read (a bucket: credentials).' >&2; fi; exit 1; }
	@echo "== 2/4 run the pipeline (dvc repro: the stages whose inputs changed)"
	@$(RUN) dvc repro --quiet || { echo 'error: `dvc repro` stopped: a failing stage says why above; nothing above means DVC itself stopped (--quiet), or a stage was killed: another dvc command in this checkout holds its lock (a second `make run`: wait for it, then run again), or the kernel killed a stage out of memory (`dmesg` says Out of memory: Killed process). `uv run dvc repro` prints the reason of DVC (a killed stage: exited with -9).' >&2; exit 1; }
	@echo "== 3/4 log the run and register the model in MLflow (alias: candidate)"
	@$(RUN) mlapp pipeline track --alias candidate
	@echo "== 4/4 serve the model locally (BentoML on 127.0.0.1), smoke-test it over HTTP, stop it"
	@$(RUN) mlapp serving serve --smoke
	@echo "Done. Metrics: metrics/metrics.json; runs and registry: $(or $(MLFLOW_TRACKING_URI),uv run mlflow ui --backend-store-uri sqlite:///mlflow.db); serve: make serve"

repro: ## re-run the pipeline stages whose inputs changed
	$(RUN) dvc repro

# The columns worth reading side by side (all 100+ do not fit a terminal); EXPS_KEEP=regex to change.
# Metrics of each task: binary, multiclass (f1_macro, f1_weighted, log_loss), regression (rmse, mae, r2).
EXPS_KEEP ?= ^(Experiment|Created|roc_auc|pr_auc|log_loss|brier|f1|f1_macro|f1_weighted|rmse|mae|r2|rmsle|train\.xgboost\.(n_estimators|max_depth|learning_rate))$$
exps: ## the experiments table (`dvc exp show`) with the main metrics and params only
	@COLUMNS=$${COLUMNS:-200} $(RUN) dvc exp show --no-pager --drop '.*' --keep '$(EXPS_KEEP)'

test: setup ## the full test suite (what CI runs)
	$(RUN) pytest -n 2 --dist loadfile --no-loadscope-reorder

test-fast: setup ## tests without the slow end-to-end ones
	$(RUN) pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not slow"

lint: setup ## ruff, mypy, the lockfile check, deptry (imports declared), workflows and manifests
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(UV) lock --check
	$(RUN) deptry src
	$(RUN) deptry tests benchmarks --ignore DEP002,DEP004 --exclude '\.venv'
	@$(MAKE) --no-print-directory lint-workflows lint-infra
	@if command -v go >/dev/null; then $(MAKE) --no-print-directory actionlint; \
	else echo "actionlint skipped: no Go toolchain here (the ci workflow runs it)"; fi

fmt: setup ## apply ruff fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

bench: setup ## pipeline benchmark + 1M/10M rows x local/dask per stage (benchmarks/), JSON to .bench/
	$(RUN) python benchmarks/pipeline.py --out .bench/pipeline.json
	nice -n 10 $(RUN) python benchmarks/scale.py --sizes 1000000 10000000 --out .bench/scale.json

tune: setup ## Optuna search on the training split (TRIALS=n); writes the best train.xgboost values to params.yaml
	$(RUN) mlapp pipeline tune $(if $(TRIALS),--trials $(TRIALS))

init: ## make the template yours: `make init NAME=acmechurn` renames everything, re-locks, re-syncs
	@test -n "$(NAME)" || { echo "usage: make init NAME=<2-31 lowercase letters or digits, starting with a letter>"; exit 2; }
	@# Quoted: one word, whatever NAME holds (`x;true` unquoted ran `true` and went on as renamed)
	$(RUN) mlapp template init --no-next '$(NAME)'
	$(UV) lock
	@# --inexact keeps what the lock no longer names: the old name's command, a ModuleNotFoundError
	$(UV) pip uninstall --quiet --python "$${UV_PROJECT_ENVIRONMENT:-.venv}" mlapp
	$(SYNC)
	@echo "Renamed to $(NAME). Next: make run && make test, then commit."

clean: ## remove the tool caches (.pytest_cache, .mypy_cache, .ruff_cache) and benchmark output (.bench)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .bench

# --- Pull-request report (docs/pr-report.md) ----------------------------------------------------
.PHONY: report gate
report: ## this tree's model vs BASE's (default: merge base with origin/main) -> reports/pr/; fails on the gate
	$(RUN) mlapp report run $(if $(BASE),--base $(BASE))

gate: ## the quality gate of the last report (reports/pr/report.json) as an exit code
	$(RUN) mlapp report gate

# --- delivery: infra/README.md, .github/workflows/README.md, docs/github-setup.md -------
# actionlint has no wheel: CI builds this exact version with `go run`, which verifies the module
# against the Go checksum database (no third-party action, no unverified download).
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
.PHONY: sync sync-core sync-pipeline sync-serving sync-delivery pipeline-outputs bento-context image image-context lint-workflows lint-infra actionlint audit check-clean deploy-status \
	bootstrap-gitops install-argocd e2e

sync: ## install the locked environment; fails if uv.lock is out of date (what CI runs)
	$(SYNC)

sync-core: ## the CLI without the extras (the PR comment job)
	$(SYNC) --no-dev

sync-pipeline: ## the pipeline's set: DVC, MLflow, report, monitor (pr, retrain workflows)
	$(SYNC) --no-dev --extra pipeline

sync-serving: ## the service's set (BentoML), what the image gets
	$(SYNC) --no-dev --extra serving

sync-delivery: ## pipeline + serving + manifest checks (cd, promote, rollback workflows)
	$(SYNC) --no-dev --extra delivery

pipeline-outputs: ## reproduce the pipeline, pulling what the DVC remote already has
	$(RUN) dvc repro --pull

bento-context: ## build the bento and export its Docker build context to build/docker (cd workflow)
	$(RUN) mlapp serving bento --docker-context build/docker

# docs/image.md. Both take the model in models/ as it is (`make pipeline-outputs` or a downloaded
# build artifact first): no pipeline run here, so a job never retrains what it was handed.
image: ## build the lean serving image (docker or podman), run it on 127.0.0.1, smoke-test it
	$(RUN) mlapp serving image

image-context: ## write the image's build context (bento + Dockerfile, base pinned by digest)
	$(RUN) mlapp serving image --context-only

lint-workflows: ## zizmor (offline, auditor persona), workflow + dependabot JSON schemas, the repository's workflow rules
	$(RUN) zizmor --offline --no-progress --persona=auditor .github
	$(RUN) check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(RUN) check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(RUN) mlapp delivery check-workflows

lint-infra: ## render every kustomize overlay and validate it offline (Kubernetes schemas + policy)
	$(RUN) mlapp delivery check-manifests

actionlint: ## actionlint (+ shellcheck when on PATH); needs Go: `make lint` skips it without one
	@command -v go >/dev/null || { echo "error: make actionlint needs Go (https://go.dev/dl/) to build $(ACTIONLINT); the ci workflow runs it" >&2; exit 2; }
	go run $(ACTIONLINT)

# Every package uv.lock pins, whichever set installs it (the image's, the pipeline's, the tools), as
# exact pins with hashes; pip-audit checks each against PyPI's advisories (one request per package).
# --strict: a package it could not look up fails the audit; without it, pip-audit skips that package
# and still ends with "No known vulnerabilities found" (and exit 0).
# AUDIT_IGNORE: advisories with no fixed release, each with the reason it is accepted:
# - diskcache (through DVC's caches): CVE-2025-69872 (GHSA-w8v5-vhqr-4h9v, PYSEC-2026-2447), pickle
#   in its cache files; the caches are under the checkout (.dvc/tmp), and whoever can write there can
#   already change the code that runs. Remove the ids when a fixed diskcache is released.
AUDIT_IGNORE := GHSA-w8v5-vhqr-4h9v PYSEC-2026-2447
AUDIT_REQUIREMENTS := build/audit-requirements.txt
audit: ## known vulnerabilities of every locked package (pip-audit, PyPI's advisories; needs the network)
	@mkdir -p $(dir $(AUDIT_REQUIREMENTS))
	$(UV) export --frozen --all-extras --all-groups --no-emit-project --no-header --no-annotate --quiet \
		--output-file $(AUDIT_REQUIREMENTS)
	$(RUN) pip-audit --requirement $(AUDIT_REQUIREMENTS) --require-hashes --disable-pip --strict \
		--progress-spinner off $(foreach id,$(AUDIT_IGNORE),--ignore-vuln $(id))

check-clean: ## fail when tracked files changed (generated files must be committed)
	git diff --exit-code

deploy-status: ## what each environment runs, from the deploy branch (fetched from origin)
	$(RUN) mlapp delivery status --fetch

bootstrap-gitops: ## into the cluster kubectl points at (running Argo CD): namespaces + one Application per environment
	$(RUN) mlapp delivery bootstrap

install-argocd: ## Argo CD at the version pinned in params.yaml (install.yaml checked by sha256) into the current cluster
	$(RUN) mlapp delivery install-argocd

e2e: ## the kind job: LOCAL_IMAGE (from `make image`) by digest on the current throwaway cluster, wait, smoke
	$(RUN) mlapp delivery e2e

# --- monitoring and continuous training: docs/monitoring.md --------------------------------------
.PHONY: recent monitor retrain-branch
recent: ## a sample batch of "recent data" (another draw of the sample process, new customers) -> recent.csv
	$(RUN) mlapp pipeline generate --rows 2000 --seed 7 --new-customers --out recent.csv

# make exits 2 whatever a recipe's exit code was, so this target reports the decision as text
# (exit 0) and keeps 2 for errors; scripts that branch on "retrain" use `uv run mlapp monitor run` (1).
monitor: ## drift + decay of SOURCE=<csv|parquet|jsonl> vs the training reference; prints the decision
	$(RUN) mlapp monitor run --exit-zero $(if $(SOURCE),--source $(SOURCE))

retrain-branch: ## the retrain workflow up to the push: branch ct/retrain, data from SOURCE, retrain, commit
	$(RUN) mlapp monitor retrain-prepare $(if $(SOURCE),--source $(SOURCE))

# --- Serving: src/mlapp/serving, docs/serving.md ---------------------------------------------------
.PHONY: bento serve bench-serve bench-score
bento: ## build the bento from models/ with lineage labels; prints tag, path, versions (KEY=VALUE)
	$(RUN) mlapp serving bento

serve: ## serve models/ with BentoML on 127.0.0.1:PORT (default: params serving.port; `make serve PORT=8080`)
	$(RUN) mlapp serving serve $(if $(PORT),--port $(PORT))

bench-serve: ## serving load test vs in-process, FastAPI and `mlflow models serve` (needs wrk) -> benchmarks/results/
	$(RUN) nice -n 10 python benchmarks/serving.py --out benchmarks/results
	$(RUN) nice -n 10 python benchmarks/serving_stack.py --out benchmarks/results

bench-score: ## batch scoring of a 1M-row file (Parquet and CSV): rows/s, peak RSS -> .bench/score.json
	$(RUN) nice -n 10 python benchmarks/score.py --out .bench
