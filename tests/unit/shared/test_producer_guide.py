"""docs/producers.md is kept true: its examples are the tested files, its schemas the models."""

from __future__ import annotations

import json
import re

import pytest
from examples.producers import producer
from litestar.testing import TestClient
from tests.conftest import REPO_ROOT
from tests.unit.gateway.test_events_api import EnvelopeBackends

from lectern.contracts import content_version
from lectern.message_schemas import PRODUCER_MODELS, message_schema
from lectern_gateway.app import create_app
from lectern_gateway.settings import GatewaySettings

GUIDE = REPO_ROOT / "docs" / "producers.md"


def _block(name: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    found = re.search(
        rf"<!-- BEGIN {re.escape(name)} -->\n```[a-z]*\n(.*?)```\n<!-- END", text, re.DOTALL
    )
    assert found, f"docs/producers.md has no block {name!r}"
    return found.group(1)


@pytest.mark.parametrize(
    "path", ["examples/producers/producer.py", "examples/producers/publish.js"]
)
def test_the_guide_shows_the_tested_example_verbatim(path: str):
    assert _block(path) == (REPO_ROOT / path).read_text(encoding="utf-8"), (
        f"copy {path} into docs/producers.md again"
    )


@pytest.mark.parametrize("name", sorted(PRODUCER_MODELS))
def test_the_committed_schemas_are_the_models(name: str):
    committed = json.loads((REPO_ROOT / "docs" / "schemas" / f"{name}.json").read_text())
    assert committed == message_schema(name), "run `make schemas`"


def test_the_guides_http_example_is_accepted():
    batch = json.loads(_block("example: POST /v1/events"))
    backends = EnvelopeBackends(GatewaySettings())
    with TestClient(create_app(backends.settings, backends=backends)) as client:
        response = client.post("/v1/events", json=batch)
    assert response.status_code == 202, response.text
    assert [str(e.event_id) for e in backends.published] == [e["event_id"] for e in batch]


@pytest.mark.parametrize(
    "content",
    ["# Title\n\ntext", "a  \r\nb\r\n\n", "Cafe\u0301 ", "\ttabs\t\n  lead", "x\ry\r\n", ""],
)
def test_the_examples_version_is_lecterns(content: str):
    assert producer.content_version(content) == content_version(content)


def test_the_readme_links_the_guide():
    assert "docs/producers.md" in (REPO_ROOT / "README.md").read_text(encoding="utf-8")
