# One entry point for people and CI. `make test` and `make demo` work from a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt lambdas/requirements.txt | cksum | cut -d' ' -f1)
NODE_STAMP := node_modules/.installed
ENVS := dev staging prod
# The pinned Node 22 (npm package `node`) and CDK CLI come first on PATH: jsii and cdk use them.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export PYTHONPATH := $(CURDIR)/lambdas:$(CURDIR)
ARGS ?=

.PHONY: help install test test-runtime demo synth cfn-lint lint format typecheck bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt lambdas/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) $(NODE_STAMP) ## create .venv and node_modules from the pinned requirements

test: $(STAMP) $(NODE_STAMP) ## run the whole test suite
	$(PY) -m pytest $(ARGS)

# The Lambda code's tests again, on the deployed Python (cdk.json lambda_runtime), in .venv-lambda:
# tools/runtime_venv.py finds that interpreter and installs the same pins (not the CDK, not the linters).
RUNTIME_VENV := .venv-lambda
RUNTIME_TESTS := tests/common tests/parse tests/score tests/load tests/warehouse tests/drills

test-runtime: $(STAMP) ## run the Lambda code's tests on the functions' Python (cdk.json lambda_runtime)
	$(PY) -m tools.runtime_venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/python -m pytest $(RUNTIME_TESTS) $(ARGS)

demo: $(STAMP) ## run the whole pipeline locally (moto + embedded PostgreSQL); ARGS="--count 5000 ..."
	$(PY) -m tools.local.demo $(ARGS)

# cdk.json runs `python3 app.py`: the venv's python3 comes first so the pinned aws-cdk-lib is used.
# Credentials are unset on purpose: synth must never need (or look up anything with) an AWS account.
synth: $(STAMP) $(NODE_STAMP) ## synthesize every environment into cdk.out/<env> (no AWS credentials needed)
	@for env in $(ENVS); do \
	  echo "== cdk synth -c env=$$env"; \
	  env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
	    PATH="$(CURDIR)/$(VENV)/bin:$$PATH" \
	    npx cdk synth --quiet -c env=$$env --output cdk.out/$$env || exit 1; \
	done

cfn-lint: $(STAMP) ## lint every synthesized template (run make synth first)
	$(VENV)/bin/cfn-lint $(foreach e,$(ENVS),cdk.out/$(e)/*.template.json)

lint: $(STAMP) ## ruff check, ruff format --check and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy lambdas/risk stacks tools app.py

format: $(STAMP) ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP) $(NODE_STAMP) ## run the benchmarks and print one line per figure
	$(PY) -m tools.bench $(ARGS)

clean: ## remove build output (keeps .venv and node_modules)
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
