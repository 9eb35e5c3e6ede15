# Kommune: developer entry points. A thin list: the logic lives in deploy/local/*.sh, and
# docs/operations.md is the runbook (ports, folders, overrides, troubleshooting).
#
# Overrides: DATABASE_URL=postgresql://user:pass@host:port/db and/or KAFKA_BOOTSTRAP_SERVERS=host:port
# make every target use those servers instead of starting the project-local ones.

SHELL := /bin/bash
.DEFAULT_GOAL := help
# Prerequisites (install, then infra) must run in order, even under make -j.
.NOTPARALLEL:

LOCAL := deploy/local
UV = $(shell command -v uv 2>/dev/null || echo python3 -m uv)

# Type-checked by `make lint` in one mypy run; every services/<name> is picked up by the wildcards
# (its src/ must also be in mypy_path in pyproject.toml, which explains why the many conftest.py
# coexist).
MYPY_PATHS := libs/kommune/src gateway/src $(wildcard services/*/src) schemas/src \
    libs/kommune/tests gateway/tests $(wildcard services/*/tests) schemas/tests tests conftest.py \
    bench k8s/tools schemas/tools deploy/keycloak
# Extra pytest arguments, e.g. make test PYTEST_ARGS='-k outbox -x'
PYTEST_ARGS ?=

.PHONY: help install infra up down status test lint bench logs clean schemas keycloak fuzz

help: ## list the targets
	@echo "Kommune: make <target>"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## uv (from PyPI if missing) + uv sync --all-packages --frozen
	@bash $(LOCAL)/tasks.sh install

infra: ## start the local PostgreSQL (15432) and Kafka (19092), unless overridden (KOMMUNE_KEYCLOAK=1: + Keycloak)
	@bash $(LOCAL)/infra.sh start

keycloak: ## start only the local Keycloak (18080, realm kommune); `KOMMUNE_KEYCLOAK=1 make up` runs the platform on it
	@bash $(LOCAL)/keycloak.sh start

up: install infra ## infra + every service and the gateway, then print the URLs
	@bash $(LOCAL)/services.sh start
	@bash $(LOCAL)/services.sh urls

down: ## stop services, Kafka and PostgreSQL; fail if any process of ours survives
	@bash $(LOCAL)/services.sh stop
	@bash $(LOCAL)/infra.sh stop
	@bash $(LOCAL)/infra.sh verify-stopped

status: ## what runs, on which port
	@bash $(LOCAL)/infra.sh status || true
	@bash $(LOCAL)/services.sh status || true

test: install infra ## the whole test suite against real PostgreSQL and Kafka (PYTEST_ARGS=...)
	@bash $(LOCAL)/tasks.sh test $(PYTEST_ARGS)

fuzz: install infra ## schemathesis over the merged OpenAPI per role, 10x the examples of make test
	@KOMMUNE_FUZZ_EXAMPLES=$${KOMMUNE_FUZZ_EXAMPLES:-50} KOMMUNE_FUZZ_MAX_SECONDS=$${KOMMUNE_FUZZ_MAX_SECONDS:-300} \
		KOMMUNE_FUZZ_PHASES=$${KOMMUNE_FUZZ_PHASES:-examples,coverage,fuzzing,stateful} \
		bash $(LOCAL)/tasks.sh test tests/e2e/test_fuzz.py -s $(PYTEST_ARGS)

lint: install ## ruff check, ruff format --check, mypy
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy $(MYPY_PATHS)

bench: install infra ## run bench/bench_*.py and print bench/results.json
	@bash $(LOCAL)/tasks.sh bench

schemas: install ## regenerate AsyncAPI document, event models and docs/events.md from schemas/events
	$(UV) run --frozen python schemas/tools/generate.py

logs: ## last 50 lines of every log (services, Kafka, PostgreSQL, Keycloak)
	@bash $(LOCAL)/tasks.sh logs 50

clean: down ## stop everything and delete all local state (.run, the database cluster)
	@bash $(LOCAL)/tasks.sh clean

.PHONY: k8s
k8s: install ## render every k8s/ overlay with kustomize and validate it offline (no cluster)
	$(UV) run --frozen pytest tests/k8s -q
