"""deploy/kubernetes validated offline: Kubernetes schemas, KEDA objects, cross-references.

Kubernetes objects go through kubernetes-validate (strict: unknown fields fail) with the
schemas it ships, for the oldest Kubernetes we support and the newest it knows; the test
blocks sockets meanwhile, so a download would fail it. KEDA objects are not in those
schemas: they are checked against tests/unit/deploy/keda_schema.py (a minimal strict
schema of the fields we use).
"""

from __future__ import annotations

import copy
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version
from tests.unit.deploy.deploy_files import KUBERNETES_DIR, load_documents
from tests.unit.deploy.keda_schema import SCHEMAS, keda_errors
from tests.unit.deploy.manifest_rules import manifest_problems

Doc = dict[str, Any]
OLDEST_KUBERNETES = "1.30"
MANIFESTS = sorted(p for p in KUBERNETES_DIR.glob("*.yaml") if p.name != "kustomization.yaml")
OBJECTS = [(path.name, doc) for path in MANIFESTS for doc in load_documents(path)]
KUBERNETES_OBJECTS = [(f, d) for f, d in OBJECTS if d["kind"] not in SCHEMAS]
KEDA_OBJECTS = [(f, d) for f, d in OBJECTS if d["kind"] in SCHEMAS]


def _id(item: tuple[str, Doc]) -> str:
    return f"{item[0]}:{item[1]['kind']}/{item[1]['metadata']['name']}"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access during offline validation: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def kubernetes_errors(doc: Doc, version: str) -> str | None:
    """kubernetes-validate's message for ``doc``, or None when it is valid (strict)."""
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{'.'.join(str(p) for p in exc.path)}: {exc.message}"
    return None


def test_the_manifests_hold_every_kind_the_deployment_needs() -> None:
    kinds = {doc["kind"] for _, doc in OBJECTS}
    assert kinds >= {
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ScaledObject",
        "TriggerAuthentication",
    }


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, latest_version()])
@pytest.mark.parametrize("item", KUBERNETES_OBJECTS, ids=[_id(i) for i in KUBERNETES_OBJECTS])
def test_object_matches_the_kubernetes_schema(item: tuple[str, Doc], version: str) -> None:
    """A kind without a shipped schema raises SchemaNotFoundError and fails the test."""
    assert kubernetes_errors(item[1], version) is None


@pytest.mark.parametrize("item", KEDA_OBJECTS, ids=[_id(i) for i in KEDA_OBJECTS])
def test_keda_object_matches_its_schema(item: tuple[str, Doc]) -> None:
    assert keda_errors(item[1]) == []


def test_manifests_keep_the_cross_object_rules() -> None:
    assert manifest_problems([doc for _, doc in OBJECTS]) == []


def test_kustomization_applies_every_manifest_but_the_secret_example() -> None:
    (kustomization,) = load_documents(KUBERNETES_DIR / "kustomization.yaml")
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in MANIFESTS} - {"secrets.example.yaml"}


def _object(kind: str, name: str) -> Doc:
    return copy.deepcopy(
        next(d for _, d in OBJECTS if d["kind"] == kind and d["metadata"]["name"] == name)
    )


def _container(doc: Doc) -> Doc:
    container: Doc = doc["spec"]["template"]["spec"]["containers"][0]
    return container


SCHEMA_BREAKS: dict[str, tuple[str, str, Callable[[Doc], None]]] = {
    "replicas as text": (
        "Deployment",
        "lectern-gateway",
        lambda d: d["spec"].update(replicas="two"),
    ),
    "misspelt probe field": (
        "Deployment",
        "lectern-indexer",
        lambda d: _container(d).update(livenessProbes={}),
    ),
    "container without image name type": (
        "Deployment",
        "lectern-session-logger",
        lambda d: _container(d).update(name=["x"]),
    ),
    "HPA minReplicas as text": (
        "HorizontalPodAutoscaler",
        "lectern-gateway",
        lambda d: d["spec"].update(minReplicas="2"),
    ),
    "PDB unknown field": (
        "PodDisruptionBudget",
        "lectern-indexer",
        lambda d: d["spec"].update(maxUnavailables=1),
    ),
}


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("case", SCHEMA_BREAKS.values(), ids=SCHEMA_BREAKS.keys())
def test_kubernetes_schema_rejects_a_broken_copy(
    case: tuple[str, str, Callable[[Doc], None]],
) -> None:
    kind, name, mutate = case
    doc = _object(kind, name)
    assert kubernetes_errors(doc, latest_version()) is None
    mutate(doc)
    assert kubernetes_errors(doc, latest_version()) is not None


def _trigger(doc: Doc) -> Doc:
    trigger: Doc = doc["spec"]["triggers"][0]
    return trigger


KEDA_BREAKS: dict[str, tuple[str, str, Callable[[Doc], None]]] = {
    "trigger type misspelt": (
        "ScaledObject",
        "lectern-indexer",
        lambda d: _trigger(d).update(type="rabbitMQ"),
    ),
    "value as a number": (
        "ScaledObject",
        "lectern-indexer",
        lambda d: _trigger(d)["metadata"].update(value=20),
    ),
    "queueName missing": (
        "ScaledObject",
        "lectern-session-logger",
        lambda d: _trigger(d)["metadata"].pop("queueName"),
    ),
    "HPA field name in spec": (
        "ScaledObject",
        "lectern-indexer",
        lambda d: d["spec"].update(minReplicas=1),
    ),
    "unknown mode": (
        "ScaledObject",
        "lectern-indexer",
        lambda d: _trigger(d)["metadata"].update(mode="Depth"),
    ),
    "no triggers": (
        "ScaledObject",
        "lectern-session-logger",
        lambda d: d["spec"].update(triggers=[]),
    ),
    "secretTargetRef without key": (
        "TriggerAuthentication",
        "lectern-rabbitmq",
        lambda d: d["spec"]["secretTargetRef"][0].pop("key"),
    ),
}


@pytest.mark.parametrize("case", KEDA_BREAKS.values(), ids=KEDA_BREAKS.keys())
def test_keda_schema_rejects_a_broken_copy(case: tuple[str, str, Callable[[Doc], None]]) -> None:
    kind, name, mutate = case
    doc = _object(kind, name)
    mutate(doc)
    assert keda_errors(doc) != []


def _edit(kind: str, name: str, mutate: Callable[[Doc], object]) -> Callable[[list[Doc]], None]:
    def apply(docs: list[Doc]) -> None:
        mutate(next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name))

    return apply


def _drop_object(kind: str, name: str) -> Callable[[list[Doc]], None]:
    def apply(docs: list[Doc]) -> None:
        docs[:] = [d for d in docs if not (d["kind"] == kind and d["metadata"]["name"] == name)]

    return apply


RULE_BREAKS: dict[str, Callable[[list[Doc]], None]] = {
    "lectern-gateway: selector does not match": _edit(
        "Deployment",
        "lectern-gateway",
        lambda d: d["spec"]["selector"]["matchLabels"].update(app="gw"),
    ),
    "lectern-indexer: no readinessProbe": _edit(
        "Deployment",
        "lectern-indexer",
        lambda d: _container(d).pop("readinessProbe"),
    ),
    "livenessProbe uses port web": _edit(
        "Deployment",
        "lectern-gateway",
        lambda d: _container(d)["livenessProbe"]["httpGet"].update(port="web"),
    ),
    "resources need cpu and memory": _edit(
        "Deployment",
        "lectern-session-logger",
        lambda d: _container(d)["resources"].pop("limits"),
    ),
    "pods may run as root": _edit(
        "Deployment",
        "lectern-indexer",
        lambda d: d["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot"),
    ),
    "lectern/rabbit-url, which is not defined": _edit(
        "Deployment",
        "lectern-gateway",
        lambda d: _container(d)["env"][3]["valueFrom"]["secretKeyRef"].update(key="rabbit-url"),
    ),
    "Service lectern-indexer-metrics: selects no": _edit(
        "Service",
        "lectern-indexer-metrics",
        lambda d: d["spec"]["selector"].update(app="indexer"),
    ),
    "lectern-session-logger: no PodDisruptionBudget": _drop_object(
        "PodDisruptionBudget", "lectern-session-logger"
    ),
    "scale target lectern-worker is not a Deployment": _edit(
        "ScaledObject",
        "lectern-indexer",
        lambda d: d["spec"]["scaleTargetRef"].update(name="lectern-worker"),
    ),
    "lectern-indexer: KEDA triggers on": _edit(
        "ScaledObject", "lectern-indexer", lambda d: d["spec"]["triggers"].pop()
    ),
    "not ['indexer.commands.0'": _edit(
        "ConfigMap", "lectern", lambda d: d["data"].update(INDEXER_SHARDS="8")
    ),
    "maxReplicaCount 4 > INDEXER_SHARDS 2": _edit(
        "ConfigMap",
        "lectern",
        lambda d: d["data"].update(INDEXER_SHARDS="2"),
    ),
    "lectern-session-logger: KEDA triggers on": _drop_object(
        "ScaledObject", "lectern-session-logger"
    ),
    "is not a TriggerAuthentication": _drop_object("TriggerAuthentication", "lectern-rabbitmq"),
    "lectern-gateway: no HorizontalPodAutoscaler": _drop_object(
        "HorizontalPodAutoscaler", "lectern-gateway"
    ),
    "prometheus.io annotations": _edit(
        "Deployment",
        "lectern-indexer",
        lambda d: d["spec"]["template"]["metadata"]["annotations"].update(
            {"prometheus.io/port": "9999"}
        ),
    ),
    "terminationGracePeriodSeconds 40 <= SHUTDOWN_GRACE_S": _edit(
        "Deployment",
        "lectern-indexer",
        lambda d: d["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=40),
    ),
    "RABBITMQ_URL uses guest or trust": _edit(
        "Deployment",
        "lectern-session-logger",
        lambda d: _container(d)["env"].append(
            {"name": "RABBITMQ_URL", "value": "amqp://guest:guest@rabbitmq/"}
        ),
    ),
}


@pytest.mark.parametrize(("expected", "mutate"), RULE_BREAKS.items(), ids=RULE_BREAKS.keys())
def test_rules_catch_a_broken_copy(expected: str, mutate: Callable[[list[Doc]], None]) -> None:
    docs = [copy.deepcopy(doc) for _, doc in OBJECTS]
    mutate(docs)
    problems = manifest_problems(docs)
    assert any(expected in problem for problem in problems), problems


def test_a_round_tripped_copy_still_validates(tmp_path: Path) -> None:
    """The YAML files parse to what the schemas accept even after a dump and reload, so
    the rejections above come from the mutations."""
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump_all([doc for _, doc in OBJECTS]))
    reloaded = load_documents(path)
    assert manifest_problems(reloaded) == []
    assert all(
        kubernetes_errors(d, latest_version()) is None for d in reloaded if d["kind"] not in SCHEMAS
    )
