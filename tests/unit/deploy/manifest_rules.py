"""Rules across the Kubernetes manifests that no single object's schema can check.

References resolve (selectors, scale targets, Secrets, ConfigMaps, named ports), every
container is probed and sized, pods run as non-root, KEDA scales each Lectern queue that
``lectern.topology`` declares, and nothing uses guest or trust (issue 9).
:func:`manifest_problems` returns one line per broken rule (empty when all hold).
"""

from __future__ import annotations

import re
from typing import Any

from lectern.topology import INDEXER_COMMANDS_QUEUE, SESSION_LOGGER_EVENTS_QUEUE

Doc = dict[str, Any]
DEFAULT_SHUTDOWN_GRACE_S = 20.0
"""``SHUTDOWN_GRACE_S`` when unset (``lectern.settings.BaseServiceSettings``)."""


def _named(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc.get("kind") == kind}


def _keys(doc: Doc) -> set[str]:
    return set(doc.get("data") or {}) | set(doc.get("stringData") or {})


def manifest_problems(docs: list[Doc]) -> list[str]:
    """Every broken rule across ``docs`` (all objects of deploy/kubernetes), one line each."""
    deployments = _named(docs, "Deployment")
    problems = []
    for name, deployment in deployments.items():
        problems += _deployment(name, deployment, docs)
    problems += _selectors(docs, deployments)
    problems += _scaling(docs, deployments)
    return problems


def _deployment(name: str, deployment: Doc, docs: list[Doc]) -> list[str]:
    spec, template = deployment["spec"], deployment["spec"]["template"]
    labels = template["metadata"].get("labels") or {}
    problems = []
    if not set(spec["selector"]["matchLabels"].items()) <= set(labels.items()):
        problems.append(f"{name}: selector does not match the pod labels")
    pod = template["spec"]
    security = pod.get("securityContext") or {}
    if security.get("runAsNonRoot") is not True or security.get("runAsUser") in (None, 0):
        problems.append(f"{name}: pods may run as root")
    secret_volumes = {
        v["name"]: v["secret"]["secretName"] for v in pod.get("volumes") or [] if "secret" in v
    }
    problems += [
        f"{name}: volume uses Secret {secret} that no manifest defines"
        for secret in secret_volumes.values()
        if secret not in _named(docs, "Secret")
    ]
    ports: set[str] = set()
    for container in pod["containers"]:
        problems += _container(name, container, docs)
        ports |= {str(p["containerPort"]) for p in container.get("ports") or []}
    annotations = template["metadata"].get("annotations") or {}
    if (
        annotations.get("prometheus.io/scrape") != "true"
        or annotations.get("prometheus.io/port") not in ports
    ):
        problems.append(f"{name}: prometheus.io annotations do not name a container port")
    return problems


def _container(name: str, container: Doc, docs: list[Doc]) -> list[str]:
    problems = []
    named_ports = {p.get("name") for p in container.get("ports") or []}
    for probe in ("livenessProbe", "readinessProbe"):
        if probe not in container:
            problems.append(f"{name}: no {probe}")
        port = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
        if isinstance(port, str) and port not in named_ports:
            problems.append(f"{name}: {probe} uses port {port}, which the container does not name")
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    if not {"cpu", "memory"} <= set(requests) or "memory" not in limits:
        problems.append(f"{name}: resources need cpu and memory requests and a memory limit")
    if (container.get("securityContext") or {}).get("allowPrivilegeEscalation") is not False:
        problems.append(f"{name}: allowPrivilegeEscalation is not false")
    secrets, config_maps = _named(docs, "Secret"), _named(docs, "ConfigMap")
    for source in container.get("envFrom") or []:
        ref = (source.get("configMapRef") or {}).get("name")
        if ref and ref not in config_maps:
            problems.append(f"{name}: envFrom names ConfigMap {ref} that no manifest defines")
    env = {}
    for item in container.get("env") or []:
        env[item["name"]] = item.get("value")
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if ref and ref["key"] not in _keys(secrets.get(ref["name"], {})):
            problems.append(
                f"{name}: {item['name']} reads {ref['name']}/{ref['key']}, which is not defined"
            )
    for key, value in env.items():
        if value and (re.search(r"(^|://)guest(:|@|$)", value) or value.lower() == "trust"):
            problems.append(f"{name}: {key} uses guest or trust")
    metrics_port = env.get("METRICS_PORT")
    if metrics_port and metrics_port not in {
        str(p["containerPort"]) for p in container.get("ports") or []
    }:
        problems.append(f"{name}: METRICS_PORT {metrics_port} is not a container port")
    return problems


def _selectors(docs: list[Doc], deployments: dict[str, Doc]) -> list[str]:
    pod_labels = {
        name: set(d["spec"]["template"]["metadata"]["labels"].items())
        for name, d in deployments.items()
    }
    problems = []
    for doc in docs:
        kind, name = doc.get("kind"), doc["metadata"]["name"]
        if kind == "Service":
            selector = set(doc["spec"]["selector"].items())
        elif kind == "PodDisruptionBudget":
            selector = set(doc["spec"]["selector"]["matchLabels"].items())
        else:
            continue
        if not any(selector <= labels for labels in pod_labels.values()):
            problems.append(f"{kind} {name}: selects no Deployment's pods")
    covered = {
        target
        for pdb in _named(docs, "PodDisruptionBudget").values()
        for target, labels in pod_labels.items()
        if set(pdb["spec"]["selector"]["matchLabels"].items()) <= labels
    }
    problems += [f"{name}: no PodDisruptionBudget" for name in sorted(set(deployments) - covered)]
    for name, deployment in deployments.items():
        grace = deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            env = {item["name"]: item.get("value") for item in container.get("env") or []}
            if grace <= float(env.get("SHUTDOWN_GRACE_S") or DEFAULT_SHUTDOWN_GRACE_S):
                problems.append(
                    f"{name}: terminationGracePeriodSeconds {grace} <= SHUTDOWN_GRACE_S"
                )
    return problems


def _scaling(docs: list[Doc], deployments: dict[str, Doc]) -> list[str]:
    problems = []
    hpa_targets = {
        d["spec"]["scaleTargetRef"]["name"]
        for d in _named(docs, "HorizontalPodAutoscaler").values()
    }
    scaled = _named(docs, "ScaledObject")
    keda_targets = {d["spec"]["scaleTargetRef"]["name"] for d in scaled.values()}
    problems += [
        f"scale target {t} is not a Deployment"
        for t in sorted((hpa_targets | keda_targets) - set(deployments))
    ]
    problems += [f"{t}: scaled by both an HPA and KEDA" for t in sorted(hpa_targets & keda_targets)]
    if "lectern-gateway" not in hpa_targets:
        problems.append("lectern-gateway: no HorizontalPodAutoscaler")
    auths = _named(docs, "TriggerAuthentication")
    secrets = _named(docs, "Secret")
    for auth_name, auth in auths.items():
        for ref in auth["spec"]["secretTargetRef"]:
            if ref["key"] not in _keys(secrets.get(ref["name"], {})):
                problems.append(
                    f"TriggerAuthentication {auth_name}: {ref['name']}/{ref['key']} is not defined"
                )
    return problems + _keda_queues(docs)


def _keda_queues(docs: list[Doc]) -> list[str]:
    """One KEDA trigger per Lectern work queue of ``lectern.topology``, authenticated."""
    problems = []
    auths, scaled = _named(docs, "TriggerAuthentication"), _named(docs, "ScaledObject")
    shards = int(
        _named(docs, "ConfigMap").get("lectern", {}).get("data", {}).get("INDEXER_SHARDS", 0)
    )
    expected = {
        "lectern-indexer": {f"{INDEXER_COMMANDS_QUEUE}.{n}" for n in range(shards)},
        "lectern-session-logger": {SESSION_LOGGER_EVENTS_QUEUE},
    }
    by_target = {d["spec"]["scaleTargetRef"]["name"]: d for d in scaled.values()}
    for target, queues in expected.items():
        triggers = (by_target.get(target) or {}).get("spec", {}).get("triggers") or []
        found = {t["metadata"]["queueName"] for t in triggers if t.get("type") == "rabbitmq"}
        if found != queues:
            problems.append(f"{target}: KEDA triggers on {sorted(found)}, not {sorted(queues)}")
        for trigger in triggers:
            ref = (trigger.get("authenticationRef") or {}).get("name")
            if ref not in auths:
                problems.append(
                    f"{target}: trigger authenticationRef {ref} is not a TriggerAuthentication"
                )
    indexer_max = (by_target.get("lectern-indexer") or {}).get("spec", {}).get("maxReplicaCount", 0)
    if indexer_max > shards:
        problems.append(f"lectern-indexer: maxReplicaCount {indexer_max} > INDEXER_SHARDS {shards}")
    return problems
