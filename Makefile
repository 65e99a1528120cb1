# One entry point for people and CI. `make test` and `make demo` work from a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt lambdas/requirements.txt | cksum | cut -d' ' -f1)
NODE_STAMP := node_modules/.installed
# checkov in its own venv from requirements-checkov.txt: its exact pins (boto3, packaging, networkx) conflict
# with requirements*.txt. tests/infra/test_checkov.py (make test) runs it on the templates it synthesizes.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cksum < requirements-checkov.txt | cut -d' ' -f1)
RISKCTL := $(VENV)/bin/riskctl
ENVS := dev staging prod
# The pinned Node 22 (npm package `node`) and CDK CLI come first on PATH: jsii and cdk use them.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export PYTHONPATH := $(CURDIR)/lambdas:$(CURDIR)
ARGS ?=
BASE ?= HEAD

.PHONY: help install test test-runtime demo docs-sample warehouse diff synth cfn-lint checkov lint format typecheck bench cost clean

# $(call timed,STEP,COMMAND): print the step, run it (its own output shows progress), then its elapsed
# time. Setup is where it matters: a first install takes minutes.
timed = @echo "== $(1)"; start=$$(date +%s); $(2) && echo "   $(1): done in $$(( $$(date +%s) - start ))s"

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt lambdas/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(call timed,Python packages (first time: minutes),$(PY) -m pip install --disable-pip-version-check --progress-bar off -r requirements-dev.txt)
	rm -f $(VENV)/.installed-* && touch $@

$(NODE_STAMP): package.json package-lock.json
	$(call timed,Node packages: the pinned CDK CLI and Node 22,npm ci --no-audit --no-fund --loglevel=notice)
	touch $@

# The project itself, editable and without dependencies (they are pinned above): the `riskctl` command.
$(RISKCTL): pyproject.toml $(STAMP)
	$(call timed,riskctl: the project itself into $(VENV)/bin,$(PY) -m pip install --disable-pip-version-check --progress-bar off --no-deps -e .)
	touch $@

install: $(STAMP) $(NODE_STAMP) $(RISKCTL) $(CHECKOV_STAMP) ## create .venv (with the riskctl command), .venv-checkov and node_modules from the pins

test: $(STAMP) $(NODE_STAMP) $(CHECKOV_STAMP) ## run the whole test suite
	$(PY) -m pytest $(ARGS)

# The Lambda code's tests again, on the deployed Python (cdk.json lambda_runtime), in .venv-lambda:
# tools/runtime_venv.py finds that interpreter and installs the same pins (not the CDK, not the linters).
RUNTIME_VENV := .venv-lambda
RUNTIME_TESTS := tests/common tests/parse tests/score tests/load tests/warehouse tests/drills tests/ingest/test_file_ingest.py tests/ingest/test_eventbridge.py tests/ingest/test_webhook.py

test-runtime: $(STAMP) ## run the Lambda code's tests on the functions' Python (cdk.json lambda_runtime)
	$(PY) -m tools.runtime_venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/python -m pytest -m "not synth" $(RUNTIME_TESTS) $(ARGS)

demo: $(STAMP) ## run the whole pipeline locally (moto + embedded PostgreSQL); ARGS="--count 5000 ..."
	$(PY) -m tools.local.demo $(ARGS)

docs-sample: $(STAMP) ## regenerate the sample output in docs/local-run.md from a real `make demo` run
	$(PY) -m tools.docs_sample $(ARGS)

warehouse: $(STAMP) ## a local PostgreSQL for `make demo ARGS="--dsn ..."`: prints its DSN, runs until Ctrl-C
	$(PY) -m tools.riskctl warehouse $(ARGS)

diff: $(STAMP) $(NODE_STAMP) ## BASE=<git ref> (default HEAD): per env and stack, what the working tree changes (no AWS)
	$(PY) -m tools.infra_diff --base $(BASE) $(ARGS)

# cdk.json runs `python3 app.py`: the venv's python3 comes first so the pinned aws-cdk-lib is used.
# Credentials are unset on purpose: synth must never need (or look up anything with) an AWS account.
# The CLI's "Supply a stack id ... to display its template" (printed for every multi-stack synth, even
# with --quiet) is filtered out: the templates are in cdk.out/<env>.
synth: $(STAMP) $(NODE_STAMP) ## synthesize every environment into cdk.out/<env> (no AWS credentials needed)
	@for env in $(ENVS); do \
	  echo "== cdk synth -c env=$$env"; \
	  env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
	    PATH="$(CURDIR)/$(VENV)/bin:$$PATH" \
	    npx cdk synth --quiet -c env=$$env --output cdk.out/$$env 2>&1 | grep -v '^Supply a stack id'; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

cfn-lint: $(STAMP) ## lint every synthesized template (run make synth first)
	$(VENV)/bin/cfn-lint $(foreach e,$(ENVS),cdk.out/$(e)/*.template.json)

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || python3 -m venv $(CHECKOV_VENV)
	$(call timed,checkov in $(CHECKOV_VENV) (its pins conflict with ours),$(CHECKOV_VENV)/bin/python -m pip install --disable-pip-version-check --progress-bar off -r requirements-checkov.txt)
	rm -f $(CHECKOV_VENV)/.installed-* && touch $@

checkov: $(STAMP) $(CHECKOV_STAMP) ## checkov over cdk.out/<env> (run make synth first): no failed check, >= 95% passing per template
	$(PY) -m tools.checkov $(foreach e,$(ENVS),cdk.out/$(e))

lint: $(STAMP) ## ruff check, ruff format --check and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy lambdas/risk stacks tools app.py

format: $(STAMP) ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP) $(NODE_STAMP) ## run the benchmarks and print one line per figure
	$(PY) -m tools.bench $(ARGS)

# Dollars per million events per environment and rate, from docs/benchmarks.json (make bench), cdk.json
# and tools/prices/eu-west-1.json; ARGS="--write" also updates the tables in README.md and docs/benchmarks.md.
cost: $(STAMP) $(NODE_STAMP) ## the cost model: $ per million events, line by line, per environment and rate
	$(PY) -m tools.cost $(ARGS)

clean: ## remove build output (keeps .venv and node_modules)
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
