"""The indexer app against real RabbitMQ, Qdrant Edge and the real embedding models."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest
from tests.conftest import PYTHON_HTML_CORPUS
from tests.integration.indexer.conftest import Bus, gazebo_command

from lectern import topology
from lectern.contracts import (
    DeleteDocument,
    IngestDocument,
    PingRequest,
    PingResponse,
    SearchRequest,
    SearchResponse,
    SentenceScoreRequest,
    SentenceScoreResponse,
    content_version,
)
from lectern.rpc import RpcClient
from lectern_indexer.app import IndexerRuntime
from lectern_indexer.embedding import Embedding

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOCUMENTS = [
    "jetty/install_osx.md",
    "jetty/install_osx_src.md",
    "jetty/hotkeys.md",
    "jetty/web_visualization.md",
]


def _indexed(document_id: str):
    return lambda e: e["event_type"] == "document.indexed" and e["document_id"] == document_id


async def _search(rpc: RpcClient, query: str, **fields: object) -> SearchResponse:
    request = SearchRequest(query=query, **fields)  # type: ignore[arg-type]
    raw = await rpc.call(topology.INDEXER_RPC_QUEUE, request.model_dump_json().encode(), timeout=10)
    return SearchResponse.model_validate_json(raw)


async def test_ingest_then_search_finds_the_macos_install_pages(bus: Bus, rpc: RpcClient):
    for relative in DOCUMENTS:
        await bus.ingest(gazebo_command(relative))
    for relative in DOCUMENTS:
        (event,) = await bus.wait_for(_indexed(relative))
        assert event["chunk_count"] > 0
        assert event["correlation_id"] == f"test-{relative}"
        assert event["unchanged"] is False

    for mode in ("hybrid", "dense", "sparse"):
        response = await _search(rpc, "How do I install Gazebo on macOS?", top_k=3, mode=mode)
        top = [hit.document_id for hit in response.hits]
        assert {"jetty/install_osx.md", "jetty/install_osx_src.md"} & set(top), (mode, top)
    hit = response.hits[0]
    assert hit.text
    assert hit.heading_path
    assert hit.title
    assert hit.version


async def test_rpc_ping_and_correlation_id(rpc: RpcClient):
    raw = await rpc.call(
        topology.INDEXER_RPC_QUEUE, PingRequest().model_dump_json().encode(), timeout=5
    )
    ping = PingResponse.model_validate_json(raw)
    assert ping.service == "indexer"
    assert ping.store == "qdrant-edge"
    assert ping.store_ok is True


async def test_invalid_rpc_answers_an_error_body(rpc: RpcClient):
    raw = await rpc.call(topology.INDEXER_RPC_QUEUE, b"{not json", timeout=5)
    assert json.loads(raw)["kind"] == "error"
    assert json.loads(raw)["status"] == 400


async def test_invalid_commands_are_dead_lettered_and_consumer_survives(bus: Bus, rpc: RpcClient):
    await bus.publish(b"{this is not json")
    unknown_format = gazebo_command("jetty/install_osx.md").model_dump(mode="json")
    unknown_format.update(document_id="bad-format", format="docx")
    await bus.publish(json.dumps(unknown_format).encode())
    wrong_version = gazebo_command("jetty/install_osx.md", document_id="bad-version")
    await bus.publish(
        wrong_version.model_dump_json().replace(wrong_version.version, "0" * 64).encode()
    )
    await bus.publish(b"\xff\xfe binary", routing_key="document.delete")

    content = "Lectern survives bad input.\n\nA valid document after invalid ones."
    await bus.ingest(
        IngestDocument(
            document_id="valid-after-bad",
            version=content_version(content),
            title="Valid",
            format="text",
            content=content,
        )
    )
    await bus.wait_for(_indexed("valid-after-bad"))
    failed = await bus.wait_for(lambda e: e["event_type"] == "document.failed", count=4)
    reasons = {e["document_id"]: e["reason"] for e in failed}
    assert "not JSON" in reasons["unknown"] or "UTF-8" in reasons["unknown"]
    assert "format" in reasons["bad-format"]
    assert "does not match" in reasons["bad-version"]
    assert all(e["retryable"] is False for e in failed)
    dead = await bus.drain_dlq(expected=4)
    assert b"{this is not json" in dead

    hits = (await _search(rpc, "bad input", top_k=1)).hits
    assert hits[0].document_id == "valid-after-bad"


def _doc(document_id: str, content: str, fmt: str = "text") -> IngestDocument:
    return IngestDocument(
        document_id=document_id,
        version=content_version(content),
        title=document_id,
        format=fmt,  # type: ignore[arg-type]
        content=content,
    )


async def test_bad_documents_fail_clearly_and_are_dead_lettered(bus: Bus):
    cases = {
        "empty": _doc("empty", ""),
        "too-large": _doc("too-large", "word " * (1024 * 1024 + 1)),
        "binary": _doc("binary", "GIF89a\x00\x01\x02\x03"),
        "all-script": _doc("all-script", "<script>steal()</script><style>p{}</style>", "html"),
        "zero-width": _doc("zero-width", "\u200b\u200c\u200d\n\n\u2060\ufeff\u00ad", "markdown"),
    }
    for command in cases.values():
        await bus.ingest(command)
    failed = await bus.wait_for(lambda e: e["event_type"] == "document.failed", count=len(cases))
    reasons = {e["document_id"]: e["reason"] for e in failed}
    assert "empty" in reasons["empty"]
    assert "over the limit" in reasons["too-large"]
    assert "binary" in reasons["binary"]
    assert "no indexable text" in reasons["all-script"]
    assert "no indexable text" in reasons["zero-width"]
    assert len(await bus.drain_dlq(expected=len(cases))) == len(cases)


async def test_search_is_answered_while_a_large_document_is_ingested(
    bus: Bus, rpc: RpcClient, indexer: IndexerRuntime, monkeypatch: pytest.MonkeyPatch
):
    small = _doc("small", "Gazebo runs on macOS with Homebrew.\n\nInstall it with brew.")
    await bus.ingest(small)
    await bus.wait_for(_indexed("small"))
    embedding_started = asyncio.Event()
    embed_documents = indexer.embedder.embed_documents

    async def watched(texts: Sequence[str]) -> list[Embedding]:
        embedding_started.set()
        return await embed_documents(texts)

    monkeypatch.setattr(indexer.embedder, "embed_documents", watched)
    page = PYTHON_HTML_CORPUS / "howto/logging-cookbook.html"
    await bus.ingest(_doc("cookbook", page.read_text(encoding="utf-8"), "html"))
    async with asyncio.timeout(120):
        await embedding_started.wait()  # the cookbook's chunks are being embedded
    for _ in range(5):
        response = await _search(rpc, "install on macOS", top_k=3)
        assert response.hits
    # Answered while the ingest still ran: a blocked event loop would answer only after it.
    assert not [e for e in bus.events if e.get("document_id") == "cookbook"], (
        "ingest ended before the searches were answered"
    )
    (event,) = await bus.wait_for(_indexed("cookbook"), timeout=300)
    assert event["chunk_count"] > 100


async def test_reingest_is_noop_and_delete_removes_chunks(bus: Bus, rpc: RpcClient):
    command = gazebo_command("jetty/install_osx.md")
    await bus.ingest(command)
    await bus.wait_for(_indexed(command.document_id))
    await bus.ingest(command.model_copy(update={"correlation_id": "again"}))
    (again,) = await bus.wait_for(lambda e: e.get("correlation_id") == "again")
    assert again["unchanged"] is True

    await bus.publish(
        DeleteDocument(document_id=command.document_id).model_dump_json().encode(),
        routing_key=DeleteDocument.ROUTING_KEY,
    )
    (deleted,) = await bus.wait_for(lambda e: e["event_type"] == "document.deleted")
    assert deleted["deleted_points"] == again["chunk_count"]
    hits = (await _search(rpc, "brew install gz-jetty", top_k=5)).hits
    assert all(h.document_id != command.document_id for h in hits)


async def test_rpc_scores_sentences_by_meaning(rpc: RpcClient):
    request = SentenceScoreRequest(
        question="How do I install Gazebo on macOS?",
        sentences=[
            "The weather in Lisbon is mild in winter.",
            "On a Mac, Gazebo is set up with Homebrew: brew install gz-jetty.",
        ],
    )
    raw = await rpc.call(topology.INDEXER_RPC_QUEUE, request.model_dump_json().encode(), timeout=30)
    reply = SentenceScoreResponse.model_validate_json(raw)
    assert len(reply.scores) == 2
    assert all(-1.0 <= s <= 1.0 for s in reply.scores)
    assert reply.scores[1] > reply.scores[0] + 0.2


async def test_rpc_refuses_too_many_sentences(rpc: RpcClient):
    body = {"kind": "score_sentences", "question": "q", "sentences": ["s"] * 257}
    raw = await rpc.call(topology.INDEXER_RPC_QUEUE, json.dumps(body).encode(), timeout=5)
    assert json.loads(raw)["status"] == 400
