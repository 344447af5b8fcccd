# flowfleet workspace tasks. Everything runs through uv; uv is installed with pip if missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# uv from PATH, else the copy pip installs for $(PYTHON) (`make uv`).
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
RUN := $(UV) run --all-packages --locked
STATE := .state
# pytest workers for `make test` / `make test-fast`: one test file per worker at a time,
# so a file's module-scoped servers and fixtures start once. JOBS=1 runs in one process.
# Four on two cores: the real-server tests spend a quarter of the run waiting on servers,
# workers and leases. Fresh clones of one commit, one after another: JOBS=2 6 min 59 s
# for all of `make test`, JOBS=3 5 min 35 s, JOBS=4 5 min 12 s (476, 512, 528 s of CPU).
JOBS ?= 4
PYTEST = $(RUN) pytest -v $(if $(filter-out 1,$(JOBS)),-n $(JOBS) --dist loadfile --no-loadscope-reorder)
PORT ?= 4200
# Server, worker and demo run: PID files, logs and the SQLite DB live in $(STATE).
LOCAL = $(RUN) python -m flowfleet.local --state $(STATE) --port $(PORT)

.PHONY: help uv sync lint test test-fast plan deploy pools validate list demo server worker down build bench require-env

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

uv: ## Install uv with pip when it is missing
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet uv || $(PYTHON) -m pip install --quiet --user uv

# Bytecode is compiled at install: a machine with PYTHONDONTWRITEBYTECODE=1 (CI's, this
# one's) otherwise compiles every module in every process. `import prefect` took 2.9 s
# of CPU without it and 1.25 s with it, paid by each server, worker, flow run and CLI
# process the suite starts. A second sync compiles nothing new (1 s).
sync: uv ## Install the workspace exactly as locked, with bytecode
	@$(UV) sync --all-packages --locked --compile-bytecode --quiet
	@$(RUN) python -m compileall -q -j 0 packages flows tests >/dev/null

lint: sync ## ruff, and the GitHub workflows against GitHub's schema and actionlint
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .
	@$(RUN) check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	@$(RUN) actionlint -shellcheck= -pyflakes= .github/workflows/*.yml

test: lint ## ruff, then every test (real Prefect servers, started by the suite) [JOBS=4]
	@$(PYTEST)

test-fast: sync ## The inner loop: the in-process tests, no server and no CLI subprocess (under a minute)
	@$(PYTEST) -m "not server and not slow and not cli and not image"

require-env:
	@if [ -z "$(ENV)" ]; then echo "error: set ENV, e.g. make $(MAKECMDGOALS) ENV=dev (environments: $$(ls infra/environments | sed 's/.toml//' | tr '\n' ' '))" >&2; exit 1; fi

validate: sync ## Check every package and environment
	@$(RUN) flowfleet validate

list: require-env sync ## List what ENV should hold
	@$(RUN) flowfleet list --env $(ENV)

plan: require-env sync ## Show what `deploy` would change in ENV
	@$(RUN) flowfleet plan --env $(ENV)

deploy: require-env sync ## Create ENV's pools if missing, then apply only the difference
	@$(RUN) flowfleet pools --env $(ENV)
	@$(RUN) flowfleet deploy --env $(ENV) $(ARGS)

bench: sync ## Fleet benchmark vs the blog's deploy() pattern, 100 deployments by default (about 10 min; never part of test): ARGS='--sizes 100,1000'
	@$(RUN) python bench/fleet.py $(ARGS)

build: sync ## Build a package's image: PACKAGE=sales, or a pool's worker image: POOL=worker-prod ENV=prod [ENGINE=podman] [PUSH=1]
	@if [ -z "$(PACKAGE)$(POOL)" ]; then echo "error: set PACKAGE or POOL, e.g. make build PACKAGE=sales, make build POOL=worker-prod ENV=prod" >&2; exit 1; fi
	@$(RUN) flowfleet images build $(PACKAGE) $(if $(POOL),--pool $(POOL)) $(if $(ENV),--env $(ENV)) --engine $(or $(ENGINE),docker) $(if $(PUSH),--push)

demo: sync ## Local server, pools, every deployment, a worker and a real sales ETL run (PORT=4200)
	@$(LOCAL) demo

server: sync ## Start (or reuse) a local Prefect server in the background, UI included (PORT=4200)
	@$(LOCAL) server

worker: require-env sync ## Start a process worker on ENV's pool in the background: ENV=local [POOL=...]
	@$(LOCAL) worker --env $(ENV) $(if $(POOL),--pool $(POOL))

down: uv ## Stop only the server and worker that demo/server/worker started (PID files in .state/)
	@$(LOCAL) down
