# Lectern developer commands. Settings are environment variables (see README.md);
# when ../shared/models holds the offline models, they are used automatically.
SHELL := bash
.DEFAULT_GOAL := help

MODELS_DIR ?= $(abspath ../shared/models)
ifneq ($(wildcard $(MODELS_DIR)/all-MiniLM-L6-v2-onnx/model.onnx),)
export EMBEDDING_MODEL_PATH ?= $(MODELS_DIR)/all-MiniLM-L6-v2-onnx
endif
ifneq ($(wildcard $(MODELS_DIR)/bm25/english.txt),)
export SPARSE_MODEL_PATH ?= $(MODELS_DIR)/bm25
endif
export QDRANT_PATH ?= $(CURDIR)/data/qdrant

# uv from PATH, else installed from PyPI on first use (scripts/ensure-uv.sh); looked up once.
UV ?= $(eval UV := $$(shell scripts/ensure-uv.sh))$(UV)
RUN = $(UV) run --frozen

.PHONY: help bootstrap install up demo test test-unit lint format eval eval-answers bench bench-quick bench-answers retention asyncapi schemas

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

bootstrap:  ## Get uv if missing, sync from the lock, start RabbitMQ/PostgreSQL/Redis if stopped
	scripts/bootstrap.sh

install:  ## Install every package and tool from the lock (uv sync)
	$(UV) sync --frozen --all-packages

up: install  ## Start gateway (:8000), indexer and session-logger in the foreground; Ctrl-C stops all
	$(RUN) honcho start -f Procfile

demo: bootstrap  ## Start the stack, ingest examples/corpus, ask questions, print hits and event counts
	$(RUN) python examples/demo.py

test: bootstrap  ## The whole test suite (unit, integration, e2e, faults)
	$(RUN) pytest

test-unit: install  ## Unit tests only (no I/O)
	$(RUN) pytest tests/unit

lint: install  ## ruff (lint + format check) and mypy
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy shared/src services/gateway/src services/indexer/src services/session-logger/src clients/cli/src

format: install  ## Apply ruff's formatting and fixes
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

eval: install  ## Retrieval quality on SciFact and E-manual: dense/sparse/hybrid, fusion comparison
	$(RUN) python bench/eval_retrieval.py

eval-answers: install  ## Extractive answers on SQuAD: top sentence / whole answer contain gold, hit@5, vs a baseline
	$(RUN) python -m bench.eval_answers

BENCH_ARGS ?=
bench: bootstrap  ## Every benchmark on a private stack, next to its limits: bench/results/latest.md (long; BENCH_ARGS=--profile)
	$(RUN) python -m bench $(BENCH_ARGS)

bench-quick: bootstrap  ## The same at tiny sizes, niced (a smoke run): bench/results/quick.md
	nice -n 19 $(RUN) python -m bench --quick $(BENCH_ARGS)

bench-answers: install  ## Streamed answers: gateway overhead on time to first token and per token vs the LLM direct
	$(RUN) python -m bench.answer_streaming

retention: install  ## Drop event partitions older than RETENTION_DAYS once
	$(RUN) lectern-session-logger retention

asyncapi: install  ## Write the event catalogue (AsyncAPI 3.0) to docs/asyncapi.json
	@mkdir -p docs
	$(RUN) python -c "import json; from lectern.catalogue import build_catalogue; print(json.dumps(build_catalogue(), indent=2))" > docs/asyncapi.json
	@echo "wrote docs/asyncapi.json"

schemas: install  ## Write the producer message schemas (JSON Schema) to docs/schemas/
	@mkdir -p docs/schemas
	$(RUN) python -c "import json; from lectern.message_schemas import PRODUCER_MODELS, message_schema; [open(f'docs/schemas/{n}.json', 'w').write(json.dumps(message_schema(n), indent=2) + '\\n') for n in PRODUCER_MODELS]"
	@echo "wrote docs/schemas/*.json"
