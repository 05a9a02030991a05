"""Rules for docker-compose.yml beyond its JSON schema: health, ordering, pins, open doors.

:func:`compose_problems` returns one readable line per broken rule (empty when all hold),
so a test shows every problem at once and a negative test can look for its own.
"""

from __future__ import annotations

import re
from typing import Any

from tests.unit.deploy.deploy_files import REPO_ROOT, SERVICES

STORES = ("rabbitmq", "postgres", "qdrant", "redis")
STATEFUL_STORES = ("rabbitmq", "postgres", "qdrant")
PINNED_IMAGE = re.compile(r":v?\d+\.\d+(\.\d+)?(-[\w.-]+)?$|@sha256:[0-9a-f]{64}$")
"""A release tag (``3.13.7-management``; Postgres numbers releases ``16.6``) or a digest;
never ``latest`` nor a bare major."""
REQUIRED_SECRET = re.compile(r"^\$\{[A-Z_]+:\?[^}]*\}$")
"""``${NAME:?message}``: compose refuses to start while the variable is unset."""
SECRETS_BY_STORE = {
    "rabbitmq": "RABBITMQ_DEFAULT_PASS",
    "postgres": "POSTGRES_PASSWORD",
    "qdrant": "QDRANT__SERVICE__API_KEY",
}
Service = dict[str, Any]


def environment(service: Service) -> dict[str, str | None]:
    """A service's ``environment`` as a mapping (compose allows a list of ``K=V`` too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: None if value is None else str(value) for key, value in env.items()}


def compose_problems(doc: dict[str, Any]) -> list[str]:
    """Every broken rule of a loaded compose file (anchors resolved), one line each."""
    services: dict[str, Service] = doc.get("services") or {}
    problems = [
        f"service {name} is missing" for name in (*STORES, *SERVICES) if name not in services
    ]
    for name, service in services.items():
        problems += _health_and_order(name, service, services)
    problems += _volumes(doc, services)
    problems += _stores(services)
    problems += _lectern_services(services)
    problems += _no_open_doors(services)
    return problems


def _health_and_order(name: str, service: Service, services: dict[str, Service]) -> list[str]:
    problems = []
    check = service.get("healthcheck") or {}
    if not check.get("test") or check.get("test") == ["NONE"] or check.get("disable"):
        problems.append(f"{name}: no health check")
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return [*problems, f"{name}: depends_on is a list (no condition: service_healthy)"]
    for target, rule in depends.items():
        if (rule or {}).get("condition") != "service_healthy":
            problems.append(f"{name}: depends on {target} without condition service_healthy")
        if not (services.get(target) or {}).get("healthcheck"):
            problems.append(f"{name}: depends on {target}, which has no health check")
    return problems


def _volumes(doc: dict[str, Any], services: dict[str, Service]) -> list[str]:
    declared = set(doc.get("volumes") or {})
    used: dict[str, set[str]] = {}
    for name, service in services.items():
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source", "")
            if source and not source.startswith((".", "/", "~", "$")):
                used.setdefault(name, set()).add(source)
    problems = [
        f"{name}: volume {volume} is not declared under volumes:"
        for name, volumes in used.items()
        for volume in sorted(volumes - declared)
    ]
    problems += [
        f"volume {volume} is declared but unused"
        for volume in sorted(declared - set().union(*used.values()))
    ]
    problems += [
        f"{name}: keeps its data in no named volume"
        for name in STATEFUL_STORES
        if name in services and not used.get(name)
    ]
    return problems


def _stores(services: dict[str, Service]) -> list[str]:
    problems = []
    for name in STORES:
        image = (services.get(name) or {}).get("image", "")
        if not PINNED_IMAGE.search(image):
            problems.append(f"{name}: image {image!r} is not pinned to a full version")
    rabbitmq = services.get("rabbitmq") or {}
    if "management" not in rabbitmq.get("image", ""):
        problems.append("rabbitmq: image without the management plugin")
    plugins = [
        m
        for m in rabbitmq.get("volumes") or []
        if str(m).endswith("/etc/rabbitmq/enabled_plugins:ro")
    ]
    text = (REPO_ROOT / plugins[0].split(":", 1)[0]).read_text() if plugins else ""
    for plugin in ("rabbitmq_management", "rabbitmq_consistent_hash_exchange"):
        if plugin not in text:
            problems.append(f"rabbitmq: plugin {plugin} is not enabled")
    return problems


def _lectern_services(services: dict[str, Service]) -> list[str]:
    problems = []
    shards = {environment(services.get(name) or {}).get("INDEXER_SHARDS") for name in SERVICES}
    if len(shards) != 1 or None in shards:
        problems.append(f"INDEXER_SHARDS differs between the services: {shards}")
    for name in SERVICES:
        service = services.get(name) or {}
        build = service.get("build") or {}
        if build.get("context") != "." or not (REPO_ROOT / build.get("dockerfile", "-")).is_file():
            problems.append(f"{name}: not built from the repository root with deploy/Dockerfile")
        if (build.get("args") or {}).get("SERVICE") != name:
            problems.append(f"{name}: build arg SERVICE is not {name}")
        env, labels = environment(service), service.get("labels") or {}
        if "OTEL_EXPORTER_OTLP_ENDPOINT" not in env:
            problems.append(f"{name}: OTEL_EXPORTER_OTLP_ENDPOINT is not passed on")
        port = env.get("GATEWAY_PORT" if name == "gateway" else "METRICS_PORT")
        if labels.get("prometheus.io/scrape") != "true" or labels.get("prometheus.io/port") != port:
            problems.append(f"{name}: prometheus.io labels do not name its metrics port {port}")
        if name != "gateway" and port not in [str(p) for p in service.get("expose") or []]:
            problems.append(f"{name}: metrics port {port} is not exposed")
    return problems


def _no_open_doors(services: dict[str, Service]) -> list[str]:
    problems = []
    for name, service in services.items():
        env = environment(service)
        for key, value in env.items():
            if value and re.search(r"(^|://)guest(:|@|$)", value):
                problems.append(f"{name}: {key} uses the guest account")
            if value and value.strip().lower() == "trust":
                problems.append(f"{name}: {key} is trust")
        published = [str(p) for p in service.get("ports") or []]
        if name in STORES and any(not p.startswith("127.0.0.1:") for p in published):
            problems.append(f"{name}: a port is published beyond 127.0.0.1")
    for name, variable in SECRETS_BY_STORE.items():
        value = environment(services.get(name) or {}).get(variable) or ""
        if not REQUIRED_SECRET.match(value):
            problems.append(f"{name}: {variable} is not a required variable from .env")
    rabbitmq_user = environment(services.get("rabbitmq") or {}).get("RABBITMQ_DEFAULT_USER") or ""
    if not rabbitmq_user or "guest" in rabbitmq_user:
        problems.append("rabbitmq: RABBITMQ_DEFAULT_USER is unset or guest (guest/guest)")
    postgres = environment(services.get("postgres") or {})
    if "scram-sha-256" not in (postgres.get("POSTGRES_INITDB_ARGS") or ""):
        problems.append("postgres: client authentication is not scram-sha-256")
    redis_command = " ".join((services.get("redis") or {}).get("command") or [])
    if not re.search(r"--requirepass \$\{REDIS_PASSWORD:\?", redis_command):
        problems.append("redis: no --requirepass from .env")
    if not environment(services.get("indexer") or {}).get("QDRANT_API_KEY"):
        problems.append("indexer: no QDRANT_API_KEY")
    problems += _gateway_key_file(services.get("gateway") or {})
    return problems


def _gateway_key_file(gateway: Service) -> list[str]:
    key_file = environment(gateway).get("API_KEYS_FILE") or ""
    targets = {
        f"/run/secrets/{s['target'] if isinstance(s, dict) else s}"
        for s in gateway.get("secrets") or []
    }
    if key_file not in targets:
        return [f"gateway: API_KEYS_FILE {key_file!r} is not a mounted secret"]
    return []
