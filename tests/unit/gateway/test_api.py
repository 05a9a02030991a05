"""Gateway HTTP contract with fake backends at the adapter seam (no I/O)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import litestar.utils.sync
import pytest
from faststream.rabbit import RabbitBroker
from litestar.testing import TestClient
from pydantic import BaseModel

from lectern.contracts import (
    AnswerCompleted,
    DocumentAccepted,
    Event,
    HitExplanation,
    IngestDocument,
    Message,
    PingResponse,
    SearchCompleted,
    SearchHit,
    SearchRequest,
    SearchResponse,
    SentenceScoreRequest,
    SentenceScoreResponse,
)
from lectern.rpc import RpcClient
from lectern_gateway.app import create_app
from lectern_gateway.backends import Backends
from lectern_gateway.errors import ServiceUnavailableError, UpstreamTimeoutError
from lectern_gateway.settings import GatewaySettings

PROBLEM = "application/problem+json"


class FakeBackends(Backends):
    """Records publishes; answers RPC calls from a scripted function."""

    def __init__(self, settings: GatewaySettings) -> None:
        super().__init__(settings=settings, broker=RabbitBroker(), rpc=RpcClient("amqp://x"))
        self.events: list[Event] = []
        self.commands: list[tuple[Message, str]] = []
        self.requests: list[Message] = []
        self.reply: Any = None

    async def publish_event(self, event: Event) -> None:
        self.events.append(event)

    async def publish_command(self, command: Message, routing_key: str) -> None:
        self.commands.append((command, routing_key))

    async def call(
        self, service: str, request: Message, reply_type: type[Any], *, timeout: float
    ) -> Any:
        self.requests.append(request)
        if isinstance(self.reply, Exception):
            raise self.reply
        result = self.reply(service, request) if callable(self.reply) else self.reply
        assert isinstance(result, BaseModel)
        return result


@pytest.fixture
def backends() -> FakeBackends:
    return FakeBackends(GatewaySettings(max_body_bytes=64 * 1024, max_document_bytes=1000))


@pytest.fixture
def client(backends: FakeBackends) -> Iterator[TestClient[Any]]:
    app = create_app(backends.settings, backends=backends)
    with TestClient(app) as test_client:
        yield test_client


def _doc(**overrides: Any) -> dict[str, Any]:
    body = {"title": "Install", "format": "markdown", "content": "# Install\n\nbrew install gz"}
    return body | overrides


def test_ingest_publishes_command_then_event(client: TestClient[Any], backends: FakeBackends):
    response = client.post("/v1/documents", json=_doc(document_id="doc-1", metadata={"a": 1}))
    assert response.status_code == 202
    body = response.json()
    expected = hashlib.sha256(b"# Install\n\nbrew install gz").hexdigest()
    assert body["document_id"] == "doc-1"
    assert body["version"] == expected
    command, routing_key = backends.commands[0]
    assert routing_key == "document.ingest"
    assert isinstance(command, IngestDocument)
    assert command.version == expected
    assert command.correlation_id == body["request_id"] == response.headers["x-request-id"]
    assert isinstance(backends.events[0], DocumentAccepted)


def test_ingest_assigns_an_id_when_absent(client: TestClient[Any]):
    response = client.post("/v1/documents", json=_doc())
    assert response.status_code == 202
    assert len(response.json()["document_id"]) == 36


def test_request_id_is_taken_from_the_header(client: TestClient[Any], backends: FakeBackends):
    response = client.post("/v1/documents", json=_doc(), headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert backends.commands[0][0].correlation_id == "abc-123"


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{not json", {"content-type": "application/json"}, 400),
        (b'{"title": "x", "format": "markdown", "content": "\xff\xfe"}', {}, 400),
        (b'{"title": "x", "format": "pdf", "content": "hello"}', {}, 400),
        (b'{"format": "markdown", "content": "hello"}', {}, 400),
        (b'{"title": "x", "format": "text", "content": "   "}', {}, 400),
        (b'{"title": "x", "format": "text", "content": "a", "extra": 1}', {}, 400),
        (b'{"title": "x", "format": "text", "content": "a", "document_id": "a b"}', {}, 400),
        (b"[]", {}, 400),
    ],
)
def test_bad_ingest_bodies_are_problems(
    client: TestClient[Any],
    backends: FakeBackends,
    content: bytes,
    headers: dict[str, str],
    status: int,
):
    response = client.post(
        "/v1/documents", content=content, headers={"content-type": "application/json", **headers}
    )
    assert response.status_code == status
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"]
    assert problem["instance"] == "/v1/documents"
    assert backends.commands == []


def test_oversized_body_is_413(client: TestClient[Any]):
    response = client.post("/v1/documents", json=_doc(content="x" * 70_000))
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(PROBLEM)


def test_content_over_document_limit_is_413(client: TestClient[Any], backends: FakeBackends):
    response = client.post("/v1/documents", json=_doc(content="é" * 600))
    assert response.status_code == 413
    assert "1000" in response.json()["detail"]
    assert backends.commands == []


def test_writes_need_an_api_key_when_configured():
    settings = GatewaySettings(api_keys="k-123456789")  # type: ignore[arg-type]
    fake = FakeBackends(settings)
    with TestClient(create_app(settings, backends=fake)) as client:
        assert client.post("/v1/documents", json=_doc()).status_code == 401
        ok = client.post("/v1/documents", json=_doc(), headers={"X-API-Key": "k-123456789"})
        assert ok.status_code == 202
        bearer = client.post(
            "/v1/documents", json=_doc(), headers={"Authorization": "Bearer k-123456789"}
        )
        assert bearer.status_code == 202


def test_placeholder_api_key_is_refused():
    with pytest.raises(ValueError, match="API_KEYS"):
        GatewaySettings(api_keys="changeme")  # type: ignore[arg-type]


def _hit(document_id: str = "d1") -> SearchHit:
    return SearchHit(
        chunk_id="c1",
        document_id=document_id,
        title="T",
        source="s.md",
        heading_path=["A", "B"],
        text="text",
        score=0.5,
    )


def test_search_answers_hits_and_records_the_search(
    client: TestClient[Any], backends: FakeBackends
):
    backends.reply = SearchResponse(hits=[_hit()], latency_ms=1.0)
    response = client.post("/v1/search", json={"query": "install on macOS", "top_k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["hits"][0]["heading_path"] == ["A", "B"]
    assert body["latency_ms"] >= 0
    request = backends.requests[0]
    assert isinstance(request, SearchRequest)
    assert request.top_k == 3
    assert request.mode == "hybrid"
    event = backends.events[0]
    assert isinstance(event, SearchCompleted)
    assert event.hit_count == 1
    assert event.correlation_id == body["request_id"]


def test_a_search_runs_on_the_event_loop_without_a_worker_thread(
    client: TestClient[Any], backends: FakeBackends, monkeypatch: pytest.MonkeyPatch
):
    """Litestar runs a sync hook or dependency in a worker thread (``sync_to_thread``),
    a thread hop per response; every hook on the search path is async."""
    hops: list[Any] = []
    original = litestar.utils.sync.sync_to_thread

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(litestar.utils.sync, "sync_to_thread", counted)
    backends.reply = SearchResponse(hits=[_hit()], latency_ms=1.0)
    assert client.post("/v1/search", json={"query": "install on macOS"}).status_code == 200
    assert [f.__qualname__ for f in hops] == []


def test_fusion_and_explain_pass_through_to_the_indexer(
    client: TestClient[Any], backends: FakeBackends
):
    why = HitExplanation(dense_score=0.5, dense_rank=1, fused_score=0.5, fusion="dbsf")
    backends.reply = SearchResponse(hits=[_hit().model_copy(update={"explain": why})], latency_ms=1)
    body = {"query": "reset the remote", "fusion": "dbsf", "explain": True}
    response = client.post("/v1/search", json=body)
    assert response.status_code == 200
    request = backends.requests[0]
    assert isinstance(request, SearchRequest)
    assert (request.fusion, request.explain) == ("dbsf", True)
    explain = response.json()["hits"][0]["explain"]
    assert (explain["dense_rank"], explain["sparse_rank"], explain["fusion"]) == (1, None, "dbsf")


@pytest.mark.parametrize(
    "body",
    [
        {"query": ""},
        {"query": "x", "top_k": 0},
        {"query": "x", "top_k": 51},
        {"query": "x", "mode": "magic"},
        {"query": "x", "fusion": "magic"},
        {"query": "x", "explain": "sometimes"},
        {"query": "x" * 5000},
        {"top_k": 3},
    ],
)
def test_absurd_search_parameters_are_400(client: TestClient[Any], body: dict[str, Any]):
    response = client.post("/v1/search", json=body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)


def test_absent_indexer_is_503_with_retry_after(client: TestClient[Any], backends: FakeBackends):
    backends.reply = ServiceUnavailableError("the indexer is not running")
    response = client.post("/v1/search", json={"query": "x"})
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["detail"] == "the indexer is not running"


def test_slow_indexer_is_504(client: TestClient[Any], backends: FakeBackends):
    backends.reply = UpstreamTimeoutError("no reply within 5.0 s")
    response = client.post("/v1/search", json={"query": "x"})
    assert response.status_code == 504
    assert response.headers["content-type"].startswith(PROBLEM)


def test_unknown_route_is_a_problem(client: TestClient[Any]):
    response = client.get("/v1/nothing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)


def test_openapi_schema_lists_the_api(client: TestClient[Any]):
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert {"/v1/documents", "/v1/search", "/health/ready"} <= set(paths)


def test_live_is_ok(client: TestClient[Any]):
    assert client.get("/health/live").json() == {"status": "ok"}


def test_ready_needs_only_the_broker(client: TestClient[Any], backends: FakeBackends):
    async def ping(timeout: float | None) -> bool:
        return True

    backends.broker.ping = ping  # type: ignore[method-assign]
    backends.reply = ServiceUnavailableError("the indexer is not running")
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["ready"] is True
    assert set(response.json()["checks"]) == {"broker"}


def test_not_ready_without_the_broker(client: TestClient[Any], backends: FakeBackends):
    async def ping(timeout: float | None) -> bool:
        return False

    backends.broker.ping = ping  # type: ignore[method-assign]
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"]


def test_dependencies_report_each_service_and_store(
    client: TestClient[Any], backends: FakeBackends
):
    async def ping(timeout: float | None) -> bool:
        return True

    backends.broker.ping = ping  # type: ignore[method-assign]

    def reply(service: str, _: Message) -> PingResponse:
        if service == "indexer":
            raise ServiceUnavailableError("the indexer is not running")
        return PingResponse(service=service, store="postgres", store_ok=False, detail="down")

    backends.reply = reply
    response = client.get("/health/dependencies")
    assert response.status_code == 200
    body = response.json()
    assert body["all_up"] is False
    deps = body["dependencies"]
    assert deps["broker"]["state"] == "up"
    assert deps["indexer"]["state"] == "down"
    assert deps["vector-store"]["state"] == "unknown"
    assert deps["session-logger"]["state"] == "up"
    assert deps["event-store"] | {"latency_ms": 0} == {
        "name": "event-store",
        "kind": "store",
        "state": "down",
        "latency_ms": 0,
        "detail": "down",
        "store": "postgres",
        "reported_by": "session-logger",
    }
    assert all(d["latency_ms"] >= 0 for d in deps.values())
    metrics = client.get("/metrics").text
    assert 'lectern_gateway_dependency_up{dependency="indexer",kind="service"} 0.0' in metrics
    assert (
        'lectern_gateway_dependency_up{dependency="session-logger",kind="service"} 1.0' in metrics
    )
    assert "lectern_gateway_dependency_latency_seconds{" in metrics


def test_rate_limit_is_per_key_and_a_problem():
    settings = GatewaySettings(rate_limit_per_minute=2, api_keys="key-aaaaaaaa,key-bbbbbbbb")  # type: ignore[arg-type]
    fake = FakeBackends(settings)
    with TestClient(create_app(settings, backends=fake)) as client:
        a = {"X-API-Key": "key-aaaaaaaa"}
        statuses = [
            client.post("/v1/documents", json=_doc(), headers=a).status_code for _ in range(3)
        ]
        assert statuses == [202, 202, 429]
        limited = client.post("/v1/documents", json=_doc(), headers=a)
        assert limited.headers["content-type"].startswith(PROBLEM)
        assert int(limited.headers["retry-after"]) >= 1
        other = client.post("/v1/documents", json=_doc(), headers={"X-API-Key": "key-bbbbbbbb"})
        assert other.status_code == 202
        assert client.get("/health/live").status_code == 200


def test_metrics_count_requests(client: TestClient[Any]):
    client.post("/v1/documents", json=_doc())
    text = client.get("/metrics").text
    assert "lectern_gateway_requests_total" in text
    assert 'path="/v1/documents"' in text


def _scores_by_word(word: str) -> Any:
    """An indexer reply: searches answer ``hits``; sentence scores favour ``word``."""

    def reply(service: str, request: Message) -> BaseModel:
        assert isinstance(request, SentenceScoreRequest)
        return SentenceScoreResponse(
            scores=[0.9 if word in s else 0.0 for s in request.sentences], latency_ms=1.0
        )

    return reply


def test_answer_cites_the_sentences_it_uses(client: TestClient[Any], backends: FakeBackends):
    osx = SearchHit(
        chunk_id="c-osx",
        document_id="jetty/install_osx.md",
        title="Binary Installation on MacOS",
        source=None,
        heading_path=["Binary Installation on MacOS"],
        score=0.9,
        text="All the Jetty binaries are available using Homebrew. After installing Homebrew, "
        "Gazebo Jetty can be installed running brew install gz-jetty. Head back to the page.",
    )
    other = SearchHit(
        chunk_id="c-win",
        document_id="jetty/install_windows.md",
        title="Windows",
        source=None,
        heading_path=[],
        score=0.5,
        text="Use conda on Windows.",
    )
    scores = _scores_by_word("brew install")

    def reply(service: str, request: Message) -> BaseModel:
        if isinstance(request, SearchRequest):
            return SearchResponse(hits=[osx, other], latency_ms=1.0)
        return scores(service, request)

    backends.reply = reply
    response = client.post("/v1/answers", json={"question": "How do I install Gazebo Jetty?"})
    assert response.status_code == 200
    body = response.json()
    assert "brew install gz-jetty" in body["answer"]
    assert "[1]" in body["answer"]
    assert [c["number"] for c in body["citations"]] == [1]
    assert body["citations"][0]["hit"]["chunk_id"] == "c-osx"
    assert body["scorer"] == "dense+lexical"
    assert body["generator"] == "extractive"
    (event,) = [e for e in backends.events if isinstance(e, AnswerCompleted)]
    assert event.answer_id == body["answer_id"]
    assert event.cited_chunk_ids == ["c-osx"]


def test_answer_ranks_by_meaning_from_the_indexer(client: TestClient[Any], backends: FakeBackends):
    backends.reply = _scores_by_word("rumble")
    response = client.post(
        "/v1/answers",
        json={
            "question": "Why do cats purr?",
            "context": ["Cats sleep a lot. Cats are felines that rumble when content."],
        },
    )
    body = response.json()
    assert body["answer"] == "Cats are felines that rumble when content. [1]"
    (request,) = backends.requests
    assert isinstance(request, SentenceScoreRequest)
    assert request.sentences == ["Cats sleep a lot.", "Cats are felines that rumble when content."]
    assert body["scorer"] == "dense+lexical"


def test_answer_from_context_needs_no_indexer(client: TestClient[Any], backends: FakeBackends):
    backends.reply = ServiceUnavailableError("the indexer is not running")
    response = client.post(
        "/v1/answers",
        json={
            "question": "What port does the gateway use?",
            "context": ["The gateway listens on port 8000.", "Unrelated text."],
        },
    )
    assert response.status_code == 200
    assert response.json()["answer"] == "The gateway listens on port 8000. [1]"
    assert response.json()["scorer"] == "lexical"
    assert all(isinstance(r, SentenceScoreRequest) for r in backends.requests)


def test_answer_with_a_slow_indexer_falls_back_to_lexical(
    client: TestClient[Any], backends: FakeBackends
):
    backends.reply = UpstreamTimeoutError("no reply within 3 s")
    response = client.post(
        "/v1/answers", json={"question": "What port?", "context": ["The port is 8000."]}
    )
    assert response.status_code == 200
    assert response.json()["scorer"] == "lexical"


def test_answer_says_not_in_the_documents(client: TestClient[Any], backends: FakeBackends):
    backends.reply = _scores_by_word("nothing matches this")
    response = client.post(
        "/v1/answers",
        json={"question": "Who won the 1998 World Cup?", "context": ["Bread needs flour."]},
    )
    assert response.json()["answer"] == "Not in the documents."
    assert response.json()["citations"] == []


@pytest.mark.parametrize(
    "context",
    [
        ["x"] * 21,
        ["x" * 20_001],
        ["x" * 20_000] * 6,
        [""],
    ],
    ids=["too-many-passages", "passage-too-long", "too-many-characters", "empty-passage"],
)
def test_answer_context_is_bounded(context: list[str]):
    backends = FakeBackends(GatewaySettings(max_body_bytes=1024 * 1024))
    with TestClient(create_app(backends.settings, backends=backends)) as client:
        response = client.post("/v1/answers", json={"question": "q", "context": context})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)


def test_answer_without_context_and_indexer_is_503(client: TestClient[Any], backends: FakeBackends):
    backends.reply = ServiceUnavailableError("the indexer is not running")
    assert client.post("/v1/answers", json={"question": "x y"}).status_code == 503


def _view(**overrides: Any) -> Any:
    from lectern.reads import DocumentView

    now = "2026-11-21T10:00:00Z"
    fields = {
        "document_id": "d1",
        "status": "indexed",
        "version": "v" * 64,
        "chunk_count": 4,
        "first_seen_at": now,
        "updated_at": now,
    }
    return DocumentView.model_validate(fields | overrides)


def test_document_status_is_read_from_the_session_logger(
    client: TestClient[Any], backends: FakeBackends
):
    from lectern.reads import DocumentStatusRequest, DocumentStatusResponse

    backends.reply = DocumentStatusResponse(document=_view())
    response = client.get("/v1/documents/jetty/install.md")
    assert response.status_code == 200
    assert response.json()["chunk_count"] == 4
    request = backends.requests[0]
    assert isinstance(request, DocumentStatusRequest)
    assert request.document_id == "jetty/install.md"


def test_unknown_document_is_404(client: TestClient[Any], backends: FakeBackends):
    from lectern_gateway.errors import NotFoundError

    backends.reply = NotFoundError("no document d9")
    response = client.get("/v1/documents/d9")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)


def test_api_keys_guard_reads_too():
    from lectern.reads import DocumentListResponse

    settings = GatewaySettings(api_keys="k-123456789")  # type: ignore[arg-type]
    fake = FakeBackends(settings)
    fake.reply = DocumentListResponse(documents=[_view()])
    with TestClient(create_app(settings, backends=fake)) as client:
        assert client.get("/v1/documents?status=indexed&limit=10").status_code == 401
        assert client.delete("/v1/documents/d1").status_code == 401
        key = {"X-API-Key": "k-123456789"}
        assert client.get("/v1/documents?limit=10", headers=key).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=501",
        "status=unknown",
        "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
        "since=yesterday",
    ],
)
def test_absurd_read_parameters_are_400(client: TestClient[Any], query: str):
    path = "/v1/analytics/summary" if "since" in query else "/v1/documents"
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


def test_analytics_defaults_to_the_last_week(client: TestClient[Any], backends: FakeBackends):
    from lectern.reads import AnalyticsSummaryRequest

    backends.reply = ServiceUnavailableError("the session-logger is not running")
    assert client.get("/v1/analytics/summary").status_code == 503
    request = backends.requests[0]
    assert isinstance(request, AnalyticsSummaryRequest)
    assert (request.until - request.since).days == 7


def test_event_catalogue_is_served(client: TestClient[Any]):
    document = client.get("/asyncapi.json").json()
    assert document["asyncapi"].startswith("3.")
    assert "lectern.events:document.indexed" in document["channels"]
    assert "IngestDocument" in document["components"]["schemas"]
    assert "guest" not in str(document["servers"])


def test_upload_picks_the_format_from_the_file_name(
    client: TestClient[Any], backends: FakeBackends
):
    response = client.post(
        "/v1/documents/upload",
        files={"file": ("install_osx.md", b"# Install\n\nbrew install gz", "text/plain")},
        data={"metadata": '{"platform": "macos"}'},
    )
    assert response.status_code == 202, response.text
    command = backends.commands[0][0]
    assert isinstance(command, IngestDocument)
    assert command.format == "markdown"
    assert command.title == "install_osx"
    assert command.source == "install_osx.md"
    assert command.metadata == {"platform": "macos"}


@pytest.mark.parametrize(
    ("name", "content", "data", "status"),
    [
        ("report.pdf", b"%PDF-1.7", {}, 415),
        ("notes.txt", b"\xff\xfe\x00bad", {}, 400),
        ("notes.txt", b"fine", {"metadata": "[1, 2"}, 400),
        ("notes.txt", b"x" * 1001, {}, 413),
    ],
)
def test_bad_uploads_are_problems(
    client: TestClient[Any],
    backends: FakeBackends,
    name: str,
    content: bytes,
    data: dict[str, str],
    status: int,
):
    response = client.post(
        "/v1/documents/upload",
        files={"file": (name, content, "application/octet-stream")},
        data=data,
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert backends.commands == []
