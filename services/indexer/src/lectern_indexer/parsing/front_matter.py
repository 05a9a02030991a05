"""YAML front matter of Markdown documents, as filterable chunk metadata.

A Markdown document may open with YAML between ``---`` fences (the convention of
Jekyll, Hugo and MkDocs, parsed by ``mdit_py_plugins.front_matter``). Its top-level
keys become the document's metadata, merged under the request's own metadata (the
request wins on a conflict), so chunks can be filtered on ``tags``, ``level``...

Only what the :data:`lectern.contracts.MetadataValue` contract can hold is kept: keys
matching :data:`~lectern_indexer.stores.base.METADATA_KEY`, and values that are
strings, booleans, integers within 64 bits, finite floats, dates (as ISO 8601 strings)
or lists of strings. Anything else (nested mappings, null, lists of numbers) is left
out. Invalid YAML is ignored: the front matter block is not indexed as text either, and
the document keeps no front matter metadata.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import yaml  # type: ignore[import-untyped]
from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin

from lectern.contracts import IngestDocument, MetadataValue
from lectern_indexer.stores.base import METADATA_KEY

MAX_METADATA_KEYS = 64
"""Most metadata keys a document keeps in all (the gateway's limit per request)."""
MAX_VALUE_CHARS = 2048
"""Longest string kept from front matter, in characters."""
MAX_LIST_ITEMS = 256
"""Longest list kept from front matter."""

_INT64 = 2**63
_FRONT_MATTER_ONLY = MarkdownIt("zero").use(front_matter_plugin)


def front_matter_metadata(source: str) -> dict[str, MetadataValue]:
    """Read YAML front matter into metadata values, ignoring what cannot be stored.

    Args:
        source: the YAML text between the ``---`` fences.

    Returns:
        Keys valid per ``METADATA_KEY`` with the values the contract can hold (see the
        module docstring), at most :data:`MAX_METADATA_KEYS`; ``{}`` for invalid YAML
        or a document that is not a mapping. Never raises.
    """
    try:
        data = yaml.safe_load(source)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return {}  # e.g. a bad timestamp (``2024-02-30``) raises ValueError in PyYAML
    if not isinstance(data, dict):
        return {}
    metadata: dict[str, MetadataValue] = {}
    for key, value in data.items():
        converted = _metadata_value(value)
        if converted is not None and isinstance(key, str) and METADATA_KEY.match(key):
            metadata[key] = converted
        if len(metadata) == MAX_METADATA_KEYS:
            break
    return metadata


def document_metadata(command: IngestDocument, content: str) -> dict[str, MetadataValue]:
    """The metadata a document's chunks carry: its front matter under the request's.

    Args:
        command: the ingest command (``format`` and request ``metadata``).
        content: the normalised content.

    Returns:
        Front matter values (Markdown only) overlaid by ``command.metadata``, at most
        :data:`MAX_METADATA_KEYS` keys with the request's always kept.
    """
    if command.format != "markdown" or not content.startswith("---"):
        return dict(command.metadata)
    tokens = _FRONT_MATTER_ONLY.parse(content)
    found = next((t for t in tokens if t.type == "front_matter"), None)
    if found is None:
        return dict(command.metadata)
    room = max(0, MAX_METADATA_KEYS - len(command.metadata))
    extra = [(k, v) for k, v in front_matter_metadata(found.content).items()]
    extra = [(k, v) for k, v in extra if k not in command.metadata][:room]
    return {**dict(extra), **command.metadata}


def _metadata_value(value: Any) -> MetadataValue | None:
    if isinstance(value, bool | str):
        return value if not isinstance(value, str) or len(value) <= MAX_VALUE_CHARS else None
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if (
        isinstance(value, list)
        and len(value) <= MAX_LIST_ITEMS
        and all(isinstance(v, str) and len(v) <= MAX_VALUE_CHARS for v in value)
    ):
        return list(value)
    return None
