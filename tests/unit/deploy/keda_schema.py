"""A minimal JSON Schema (draft 2020-12) of the KEDA objects the manifests use.

KEDA's CRDs are not in the Kubernetes schemas that kubernetes-validate ships, and no
PyPI package vendors them as JSON Schema, so this covers the fields we use, strictly
(``additionalProperties: false`` wherever we write fields): a misspelt or misplaced field
fails instead of being ignored. Field names and types follow KEDA's ``keda.sh/v1alpha1``
CRDs (ScaledObject ``spec``: scaleTargetRef, pollingInterval, cooldownPeriod,
minReplicaCount, maxReplicaCount, triggers; TriggerAuthentication ``spec.secretTargetRef``)
and the RabbitMQ scaler's trigger metadata (queueName, mode QueueLength|MessageRate,
value as a string, optional activationValue, protocol, vhostName), see KEDA's docs
"Scalers / RabbitMQ Queue". Widen it when a manifest needs another field.
"""

from __future__ import annotations

from typing import Any

import jsonschema

NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 253}
NUMBER_STRING = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"}
COUNT = {"type": "integer", "minimum": 0}

METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": NAME,
        "namespace": NAME,
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}

RABBITMQ_TRIGGER = {
    "type": "object",
    "required": ["type", "metadata"],
    "properties": {
        "type": {"const": "rabbitmq"},
        "name": NAME,
        "metadata": {
            "type": "object",
            "required": ["queueName", "mode", "value"],
            "properties": {
                "queueName": {"type": "string", "minLength": 1},
                "mode": {"enum": ["QueueLength", "MessageRate"]},
                "value": NUMBER_STRING,
                "activationValue": NUMBER_STRING,
                "protocol": {"enum": ["auto", "amqp", "http"]},
                "vhostName": {"type": "string"},
            },
            "additionalProperties": False,
        },
        "authenticationRef": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": NAME,
                "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": METADATA,
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": NAME,
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                    },
                    "additionalProperties": False,
                },
                "pollingInterval": COUNT,
                "cooldownPeriod": COUNT,
                "minReplicaCount": COUNT,
                "maxReplicaCount": COUNT,
                "triggers": {"type": "array", "minItems": 1, "items": RABBITMQ_TRIGGER},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

TRIGGER_AUTHENTICATION = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "TriggerAuthentication"},
        "metadata": METADATA,
        "spec": {
            "type": "object",
            "required": ["secretTargetRef"],
            "properties": {
                "secretTargetRef": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["parameter", "name", "key"],
                        "properties": {
                            "parameter": {"type": "string"},
                            "name": NAME,
                            "key": {"type": "string"},
                        },
                        "additionalProperties": False,
                    },
                }
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

SCHEMAS = {"ScaledObject": SCALED_OBJECT, "TriggerAuthentication": TRIGGER_AUTHENTICATION}


def keda_errors(document: dict[str, Any]) -> list[str]:
    """Validation errors of a KEDA object (``path: message`` each); empty when valid.

    Raises:
        KeyError: ``document`` is not a kind listed in :data:`SCHEMAS`.
    """
    validator = jsonschema.Draft202012Validator(SCHEMAS[document["kind"]])
    return [
        f"{'.'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(document)
    ]
