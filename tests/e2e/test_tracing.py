"""One trace across the broker: the three services as processes, exporting OTLP/HTTP.

The test serves an OTLP/HTTP receiver on loopback and starts the stack with
``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at it (and a 100 ms export delay). One search
must give one trace id seen in spans of the gateway (the HTTP request), the indexer
(the RPC request it served) and the session-logger (persisting the ``SearchCompleted``
the gateway published); one ingest likewise reaches the indexer and the session-logger's
persisting of the ``DocumentIndexed`` the indexer published. Log lines carry the trace id.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import GAZEBO_CORPUS
from tests.e2e.conftest import Stack, running_stack
from tests.e2e.otlp_receiver import OtlpReceiver, ReceivedSpan, otlp_receiver
from tests.faults.harness import SERVICE_NAMES

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DOCUMENT = "jetty/troubleshooting.md"
SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[Stack, OtlpReceiver]]:
    with (
        otlp_receiver() as receiver,
        running_stack(
            tmp_path,
            per_service={
                name: {
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                    "OTEL_BSP_SCHEDULE_DELAY": "100",
                }
                for name in SERVICE_NAMES
            },
        ) as stack,
    ):
        yield stack, receiver


def _of(spans: list[ReceivedSpan], trace_id: str, service: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.trace_id == trace_id and s.service_name == service]


def _persisted(spans: list[ReceivedSpan], trace_id: str, event_type: str) -> bool:
    return any(
        s.name == "session-logger.events persist"
        and s.attributes.get("lectern.event_type") == event_type
        for s in _of(spans, trace_id, "lectern-session-logger")
    )


def _roots(spans: list[ReceivedSpan], trace_id: str) -> list[ReceivedSpan]:
    """The spans of ``trace_id`` whose parent is not (yet) among the received spans."""
    in_trace = [s for s in spans if s.trace_id == trace_id]
    span_ids = {s.span_id for s in in_trace}
    return [s for s in in_trace if s.parent_span_id not in span_ids]


def _wait_indexed(client: httpx.Client, document_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    status: object = None
    while time.monotonic() < deadline:
        response = client.get(f"/v1/documents/{document_id}")
        status = response.json().get("status") if response.status_code == 200 else response
        if status == "indexed":
            return
        time.sleep(0.5)
    raise AssertionError(f"{document_id} not indexed within {timeout:.0f} s: {status}")


def _log_records(stack: Stack, name: str) -> list[dict[str, object]]:
    records = []
    for line in stack.log_tail(name, lines=5000).splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def test_one_trace_spans_gateway_indexer_and_session_logger(
    traced: tuple[Stack, OtlpReceiver],
) -> None:
    stack, receiver = traced
    path = GAZEBO_CORPUS / DOCUMENT
    ingest_trace = secrets.token_hex(16)
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        # A client's own trace context (W3C traceparent) is continued by the gateway.
        accepted = client.post(
            "/v1/documents",
            json={
                "document_id": DOCUMENT,
                "title": "Troubleshooting",
                "format": "markdown",
                "content": path.read_text(encoding="utf-8"),
            },
            headers={"traceparent": f"00-{ingest_trace}-{secrets.token_hex(8)}-01"},
        )
        assert accepted.status_code == 202, accepted.text
        ingest_request_id = accepted.headers["x-request-id"]
        _wait_indexed(client, DOCUMENT, timeout=180)

        searched = client.post("/v1/search", json={"query": "Gazebo crashes on start", "top_k": 3})
        assert searched.status_code == 200, searched.text
        assert searched.json()["hits"], searched.json()
        request_id = searched.headers["x-request-id"]

    spans = receiver.wait_for(
        lambda spans: any(
            s.service_name == "lectern-gateway"
            and s.kind == SERVER_KIND
            and s.name == "POST /v1/search"
            for s in spans
        ),
        timeout=30,
        message="the gateway's span of POST /v1/search",
    )
    (search_span,) = [
        s
        for s in spans
        if s.service_name == "lectern-gateway"
        and s.kind == SERVER_KIND
        and s.name == "POST /v1/search"
    ]
    search_trace = search_span.trace_id
    assert search_span.parent_span_id == ""  # the search started a trace of its own

    spans = receiver.wait_for(
        lambda spans: (
            bool(_of(spans, search_trace, "lectern-indexer"))
            and _persisted(spans, search_trace, "search.completed")
            and len(_roots(spans, search_trace)) == 1
        ),
        timeout=30,
        message="the search's spans in the indexer and the session-logger, in one tree",
    )
    indexer = _of(spans, search_trace, "lectern-indexer")
    assert any(s.name == "default.indexer.rpc process" for s in indexer), indexer
    (persisted,) = [
        s
        for s in _of(spans, search_trace, "lectern-session-logger")
        if s.attributes.get("lectern.event_type") == "search.completed"
    ]
    assert persisted.attributes["messaging.message.conversation_id"] == request_id
    # Every span of the search's trace has its parent in the trace (one tree, one root).
    assert _roots(spans, search_trace) == [search_span]

    # The ingest: client → gateway → command → indexer → DocumentIndexed → session-logger.
    spans = receiver.wait_for(
        lambda spans: (
            _persisted(spans, ingest_trace, "document.indexed")
            and _persisted(spans, ingest_trace, "document.accepted")
        ),
        timeout=30,
        message="the ingest's events persisted in its trace",
    )
    assert _of(spans, ingest_trace, "lectern-gateway")
    assert any(s.name.endswith(" process") for s in _of(spans, ingest_trace, "lectern-indexer"))

    # Health pings (every startup poll and the gateway's monitor) are sent unsampled:
    # no service starts a trace of its own for an RPC request.
    rpc_roots = [s for s in spans if s.name.endswith(".rpc create")]
    assert not rpc_roots, rpc_roots

    # structlog lines carry the trace id next to the correlation id of the work they log.
    logged = [r for r in _log_records(stack, "indexer") if r.get("trace_id") == ingest_trace]
    assert logged, "no indexer log line carries the ingest's trace id"
    assert {r.get("correlation_id") for r in logged} == {ingest_request_id}, logged
    by_service: dict[str, int] = {}
    for span in spans:
        if span.trace_id == search_trace:
            by_service[span.service_name] = by_service.get(span.service_name, 0) + 1
    print(f"search trace {search_trace}: spans by service {by_service}")
