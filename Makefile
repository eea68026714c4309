# Two commands for a newcomer: `make demo` and `make test`. Each installs what it needs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
# The Lambda runtime version (python3.13): pyenv's copy if there is one, else python3.13 on PATH.
PYTHON313 ?= $(or $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/3.13.*/bin/python))),$(shell command -v python3.13))
UV_VERSION := 0.13.8
SAM_CLI_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30

TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
PY := $(VENV)/bin/python
# checkov in its own venv: its dependency tree stays out of uv.lock.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
# What the local stack (`fstriage local`) runs the functions with: the Lambda runtime's own packages
# (awslambdaric + boto3, at uv.lock's versions), nothing else. The layer brings the rest.
RUNTIME_VENV := .venv-runtime
RUNTIME_PACKAGES := awslambdaric boto3

# Fake credentials and a region: nothing here may reach real AWS.
export AWS_ACCESS_KEY_ID := testing
export AWS_SECRET_ACCESS_KEY := testing
export AWS_DEFAULT_REGION := us-east-1
export AWS_REGION := us-east-1
unexport AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export SAM_CLI_TELEMETRY := 0
# checkov otherwise asks PyPI for a newer version of itself on every run.
export CKV_SKIP_PACKAGE_UPDATE_CHECK := true
# sam build needs a python3.13 with pip on PATH (uv venvs have no pip): use the interpreter itself.
export PATH := $(dir $(PYTHON313)):$(PATH)

.PHONY: help setup chromium lint validate build test coverage test-unit test-template test-integration test-browser test-e2e test-package test-reliability reliability local demo dist $(RUNTIME_VENV) clean

help:
	@echo "make demo   - install everything, run the whole stack locally with the Fullstory sandbox, send the events/ samples, print the reports"
	@echo "make test   - install everything, then lint, type-check, validate, build and run every test tier"
	@echo "make reliability - the reliability suite's full profile (about 7 min); figures for docs/reliability.md"
	@echo "make setup  - only install (.venv from uv.lock, SAM CLI in .venv-sam, checkov in .venv-checkov, Lambda runtime in .venv-runtime, Debian's chromium)"
	@echo "make local  - run the whole stack on this machine (fstriage local; ARGS='--port 3000 ...')"
	@echo "make dist   - build the wheel and sdist into dist/ (uvx --from dist/fstriage-*.whl fstriage --help)"
	@echo "make clean  - remove venvs and build output"

$(UV):
	@test -n "$(PYTHON313)" || { echo "error: Python 3.13 not found (pyenv or python3.13 on PATH)" >&2; exit 1; }
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python "$(PYTHON313)" --quiet
	@touch $@

$(CHECKOV): $(UV)
	$(UV) venv --clear --quiet --python "$(PYTHON313)" $(CHECKOV_VENV)
	VIRTUAL_ENV=$(CHECKOV_VENV) $(UV) pip install --quiet checkov==$(CHECKOV_VERSION)

# --no-config: pyproject's [tool.uv] keeps aws-sam-cli out of uv.lock (exclude-dependencies), which would
# also make `uv pip install` in this directory skip it.
$(SAM): $(UV)
	$(UV) venv --clear --quiet --python "$(PYTHON313)" $(SAM_VENV)
	VIRTUAL_ENV=$(SAM_VENV) $(UV) pip install --no-config --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	@test -x $(SAM) || { echo "error: SAM CLI was not installed into $(SAM_VENV)" >&2; exit 1; }

# Pinned by uv.lock itself: its export is the constraints file, so boto3's botocore etc. match too.
$(RUNTIME_VENV)/.synced: $(UV) uv.lock
	$(UV) venv --quiet --allow-existing --python "$(PYTHON313)" $(RUNTIME_VENV)
	$(UV) export --frozen --no-hashes --no-emit-project --all-groups --quiet -o $(RUNTIME_VENV)/constraints.txt
	VIRTUAL_ENV=$(RUNTIME_VENV) $(UV) pip install --quiet -c $(RUNTIME_VENV)/constraints.txt $(RUNTIME_PACKAGES)
	@touch $@

$(RUNTIME_VENV): $(RUNTIME_VENV)/.synced

# The HTML report's browser test drives the system's Chromium through Playwright (Playwright's own
# browser download is not reachable from our machines or CI). Silent when one is already installed.
chromium:
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then \
		echo "Chromium not found (the HTML report's browser test needs it): installing Debian's chromium with apt-get"; \
		as_root=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$as_root apt-get update -qq && $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

setup: $(VENV)/.synced $(SAM) $(CHECKOV) $(RUNTIME_VENV)/.synced chromium

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy functions/investigator/app.py
	$(VENV)/bin/mypy functions/fme_forwarder/app.py
	$(PY) -m fstriage_dev.events --check

validate: $(VENV)/.synced $(SAM) $(CHECKOV)
	$(SAM) validate --lint
	$(VENV)/bin/cfn-lint template.yaml
	$(CHECKOV)

build: $(VENV)/.synced $(SAM)
	$(SAM) build --cached

# pytest exits 5 when it collects nothing: that fails the target loudly, like any other failure.
define run_tier
	@echo "== pytest $(1)"
	@$(PY) -m pytest $(1) -q || { rc=$$?; [ $$rc -eq 5 ] && echo "error: no tests collected in $(1)" >&2; exit $$rc; }
endef

# The in-process tiers add up their line coverage in .coverage; `make coverage` judges the sum (each
# tier alone is not held to the threshold).
COV := --cov --cov-append --cov-report= --cov-fail-under=0

test-unit: $(VENV)/.synced
	@rm -f .coverage
	$(call run_tier,tests/unit $(COV))

test-template: $(VENV)/.synced
	$(call run_tier,tests/template)

test-integration: $(VENV)/.synced
	$(call run_tier,tests/integration $(COV))

# The HTML report in headless Chromium. A missing Chromium fails the tier (never a skip).
test-browser: $(VENV)/.synced chromium
	$(call run_tier,tests/browser $(COV))

# Line coverage of the layer and the CLI from the unit, integration and browser tiers; fails below
# pyproject's fail_under.
coverage: $(VENV)/.synced
	$(VENV)/bin/coverage report

# The CLI as a user installs it: the wheel and sdist built, the wheel installed into fresh venvs (without
# and with the [local] extra, from PyPI through uv's cache) and run from outside the checkout against the
# sandbox and the installed local stack. A missing tool fails, not skips.
test-package: export FSTRIAGE_E2E_REQUIRED := 1
test-package: $(VENV)/.synced $(UV)
	$(call run_tier,tests/package)

# The local stack end to end (sam build, moto, the runtime emulator). Here a missing tool fails, not skips.
test-e2e: export FSTRIAGE_E2E_REQUIRED := 1
test-e2e: $(VENV)/.synced $(SAM) $(RUNTIME_VENV)/.synced
	$(call run_tier,tests/e2e)

# The reliability suite's fast profile: hostile input in-process, then duplicates, outages, a Fullstory
# storm and secret canaries through the local stack. A missing tool fails, not skips.
test-reliability: export FSTRIAGE_E2E_REQUIRED := 1
test-reliability: $(VENV)/.synced $(SAM) $(RUNTIME_VENV)/.synced
	$(call run_tier,tests/reliability)

test: lint validate build test-unit test-template test-integration test-browser coverage test-e2e test-package test-reliability

# The full profile (10,000 hostile requests, 20 alerts per local-stack row); figures go to docs/reliability.md.
reliability: export FSTRIAGE_E2E_REQUIRED := 1
reliability: export FSTRIAGE_RELIABILITY_PROFILE := full
reliability: $(VENV)/.synced $(SAM) $(RUNTIME_VENV)/.synced
	$(call run_tier,tests/reliability -s)

# The whole stack on this machine: make local ARGS="--port 3000"
local: $(VENV)/.synced $(SAM) $(RUNTIME_VENV)/.synced
	$(PY) -m fstriage_cli.local $(ARGS)

# The main job end to end: local stack + Fullstory sandbox + every sample in events/.
demo: $(VENV)/.synced $(SAM) $(RUNTIME_VENV)/.synced
	$(PY) -m fstriage_cli.demo $(ARGS)

# The release artefacts: dist/fstriage-X.whl and dist/fstriage-X.tar.gz.
dist: $(UV)
	rm -rf dist
	$(UV) build --python "$(PYTHON313)" --wheel --sdist -o dist

clean:
	rm -rf $(TOOLS) $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(RUNTIME_VENV) .aws-sam .mypy_cache .ruff_cache .pytest_cache .coverage dist
