"""``lectern ingest`` resends the documents a bulk answer refused for load (429/503).

The gateway is an ``httpx.MockTransport`` at the client's HTTP seam: it answers each
bulk request with a scripted status per document id, and records what was sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from lectern_cli import ingest as ingest_module
from lectern_cli.client import LecternClient
from lectern_cli.ingest import IngestReport, SourceFile, _send_batch


def _batch(tmp_path: Path, ids: list[str]) -> list[tuple[SourceFile, dict[str, Any]]]:
    items = []
    for document_id in ids:
        path = tmp_path / f"{document_id}.md"
        path.write_text(f"# {document_id}\n\ntext\n", encoding="utf-8")
        items.append((SourceFile(path, document_id, "markdown"), {"document_id": document_id}))
    return items


def _gateway(
    status_of: Callable[[str, int], int], requests: list[list[str]]
) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        ids = [d["document_id"] for d in json.loads(request.content)["documents"]]
        requests.append(ids)
        results = []
        for index, document_id in enumerate(ids):
            status = status_of(document_id, len(requests))
            result: dict[str, Any] = {"index": index, "document_id": document_id, "status": status}
            if status == 202:
                result["version"] = f"v-{document_id}"
            else:
                result["detail"] = "refused"
            results.append(result)
        return httpx.Response(207, json={"results": results})

    return httpx.MockTransport(handle)


async def _send(
    tmp_path: Path, ids: list[str], transport: httpx.MockTransport
) -> tuple[dict[str, str], IngestReport]:
    client = LecternClient("http://gateway")
    client._http = httpx.AsyncClient(base_url="http://gateway", transport=transport)
    sent: dict[str, str] = {}
    report = IngestReport()
    async with client:
        await _send_batch(client, _batch(tmp_path, ids), sent, report)
    return sent, report


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest_module, "ITEM_BACKOFF_S", 0.0)


async def test_documents_refused_for_load_are_resent_alone(tmp_path: Path) -> None:
    requests: list[list[str]] = []
    first_try = {"b": 503, "c": 429}
    transport = _gateway(lambda d, n: first_try.get(d, 202) if n == 1 else 202, requests)
    sent, report = await _send(tmp_path, ["a", "b", "c"], transport)
    assert requests == [["a", "b", "c"], ["b", "c"]]
    assert sent == {"a": "v-a", "b": "v-b", "c": "v-c"}
    assert report.reasons == {}


async def test_a_refusal_that_is_not_load_fails_at_once(tmp_path: Path) -> None:
    requests: list[list[str]] = []
    transport = _gateway(lambda d, n: 400 if d == "bad" else 202, requests)
    sent, report = await _send(tmp_path, ["ok", "bad"], transport)
    assert requests == [["ok", "bad"]]
    assert sent == {"ok": "v-ok"}
    assert set(report.reasons) == {"bad"}


async def test_resends_stop_after_the_last_attempt(tmp_path: Path) -> None:
    requests: list[list[str]] = []
    transport = _gateway(lambda d, n: 503, requests)
    sent, report = await _send(tmp_path, ["x"], transport)
    assert len(requests) == ingest_module.ITEM_ATTEMPTS
    assert sent == {}
    assert report.reasons["x"].startswith("503")
