"""docker-compose.yml against the compose specification's JSON schema and our rules.

The schema is the one check-jsonschema vendors (``--builtin-schema vendor.compose-spec``),
run as the venv's console script: no network, no Docker engine.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.deploy.compose_rules import compose_problems
from tests.unit.deploy.deploy_files import COMPOSE_FILE, run_tool, venv_tool, write_documents

Doc = dict[str, Any]


def compose_schema_check(path: Path) -> tuple[int, str]:
    result = run_tool(
        venv_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", path
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def compose() -> Doc:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_compose_file_matches_the_compose_specification() -> None:
    status, output = compose_schema_check(COMPOSE_FILE)
    assert status == 0, output
    assert "ok -- validation done" in output


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        node[last] = value

    return mutate


SCHEMA_MUTATIONS = {
    "unknown depends_on condition": _set(
        "services.gateway.depends_on.rabbitmq", {"condition": "service_happy"}
    ),
    "misspelt service key": _set("services.indexer.healthchek", {"test": ["CMD", "true"]}),
    "healthcheck retries not a number": _set("services.redis.healthcheck.retries", [3]),
    "unknown top-level key": _set("service", {}),
}


@pytest.mark.parametrize("mutation", SCHEMA_MUTATIONS.values(), ids=SCHEMA_MUTATIONS.keys())
def test_schema_rejects_a_broken_copy(
    compose: Doc, mutation: Callable[[Doc], None], tmp_path: Path
) -> None:
    broken = copy.deepcopy(compose)
    mutation(broken)
    status, output = compose_schema_check(write_documents(tmp_path / "compose.yml", [broken]))
    assert status == 1, output


def test_unmodified_copy_still_passes_the_schema(compose: Doc, tmp_path: Path) -> None:
    """The round trip through PyYAML keeps the file valid, so the rejections above are
    caused by the mutations alone."""
    status, output = compose_schema_check(write_documents(tmp_path / "compose.yml", [compose]))
    assert status == 0, output


def test_compose_file_keeps_our_rules(compose: Doc) -> None:
    assert compose_problems(compose) == []


def _drop(path: str) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


RULE_MUTATIONS = {
    "qdrant: no health check": _drop("services.qdrant.healthcheck"),
    "without condition service_healthy": _set(
        "services.indexer.depends_on.qdrant", {"condition": "service_started"}
    ),
    "redis: image 'redis:latest' is not pinned": _set("services.redis.image", "redis:latest"),
    "rabbitmq: image without the management plugin": _set(
        "services.rabbitmq.image", "rabbitmq:3.13.7"
    ),
    "volume qdrant is declared but unused": _set("services.qdrant.volumes", []),
    "volume cache is not declared": _set("services.redis.volumes", ["cache:/data"]),
    "gateway: build arg SERVICE is not gateway": _set(
        "services.gateway.build.args.SERVICE", "indexer"
    ),
    "INDEXER_SHARDS differs": _set("services.indexer.environment.INDEXER_SHARDS", "8"),
    "metrics port 9101 is not exposed": _drop("services.indexer.expose"),
    "session-logger: prometheus.io labels": _set(
        "services.session-logger.labels",
        {"prometheus.io/scrape": "true", "prometheus.io/port": "9101"},
    ),
    "indexer: OTEL_EXPORTER_OTLP_ENDPOINT is not passed on": _drop(
        "services.indexer.environment.OTEL_EXPORTER_OTLP_ENDPOINT"
    ),
    "RABBITMQ_URL uses the guest account": _set(
        "services.gateway.environment.RABBITMQ_URL", "amqp://guest:guest@rabbitmq:5672/"
    ),
    "POSTGRES_HOST_AUTH_METHOD is trust": _set(
        "services.postgres.environment.POSTGRES_HOST_AUTH_METHOD", "trust"
    ),
    "QDRANT__SERVICE__API_KEY is not a required variable": _set(
        "services.qdrant.environment.QDRANT__SERVICE__API_KEY", "changeme"
    ),
    "postgres: a port is published beyond 127.0.0.1": _set(
        "services.postgres.ports", ["5432:5432"]
    ),
    "gateway: API_KEYS_FILE": _set("services.gateway.secrets", []),
    "redis: no --requirepass": _set("services.redis.command", ["redis-server"]),
}


@pytest.mark.parametrize(
    ("expected", "mutation"), RULE_MUTATIONS.items(), ids=RULE_MUTATIONS.keys()
)
def test_rules_catch_a_broken_copy(
    compose: Doc, expected: str, mutation: Callable[[Doc], None]
) -> None:
    broken = copy.deepcopy(compose)
    mutation(broken)
    problems = compose_problems(broken)
    assert any(expected in problem for problem in problems), problems
