"""Folding py-spy's collapsed stacks into the ingest pipeline's stages."""

from __future__ import annotations

from bench.profiling import IDLE, OTHER, shares_line, stage_of, stage_shares, thread_busy
from hypothesis import given
from hypothesis import strategies as st

LOOP = "<module> (lectern_indexer/__main__.py:40);run (asyncio/runners.py:118)"
WORKER = (
    "_bootstrap (threading.py:995);run (threading.py:975);_worker (concurrent/futures/thread.py:83)"
)


def stack(*frames: str) -> str:
    return ";".join((WORKER, *frames))


def test_stages_are_found_anywhere_in_the_stack() -> None:
    stacks = [
        stack(
            "_embed_batch (lectern_indexer/embedding.py:150)",
            "onnx_embed (fastembed/text/onnx_text_model.py:90)",
            "run (onnxruntime/capi/onnxruntime_inference_collection.py:220)",
        ),
        stack(
            "onnx_embed (fastembed/text/onnx_text_model.py:88)",
            "tokenize (fastembed/text/onnx_text_model.py:50)",
        ),
        stack("embed (fastembed/sparse/bm25.py:200)", "_stem (fastembed/sparse/bm25.py:180)"),
        stack("write (lectern_indexer/stores/edge.py:121)"),
        stack(
            "_chunk (lectern_indexer/service.py:330)",
            "parse_document (lectern_indexer/parsing/__init__.py:25)",
        ),
        stack(
            "chunk (lectern_indexer/chunking.py:140)",
            "encode_batch (tokenizers/__init__.py:1)",
        ),
        f"{LOOP};_run (asyncio/events.py:80);publish (aio_pika/exchange.py:200)",
    ]
    assert [stage_of(s) for s in stacks] == [
        "dense (ONNX)",
        "tokenize",
        "sparse (BM25)",
        "Qdrant write",
        "parse",
        "chunk",
        "broker",
    ]


def test_waiting_is_judged_by_the_innermost_frame() -> None:
    idle_loop = f"{LOOP};_run_once (asyncio/base_events.py:1898);select (selectors.py:468)"
    idle_worker = f"{WORKER};get (queue.py:171);wait (threading.py:327)"
    blocked_in_c = "_bootstrap (threading.py:1002);_worker (concurrent/futures/thread.py:81)"
    assert stage_of(blocked_in_c) == IDLE
    busy = f"{LOOP};_run (asyncio/events.py:80);validate (pydantic/main.py:10)"
    assert stage_of(idle_loop) == IDLE
    assert stage_of(idle_worker) == IDLE
    assert stage_of(busy) == OTHER


def test_shares_sum_samples_per_stage_largest_first() -> None:
    lines = [
        f"{WORKER};write (lectern_indexer/stores/edge.py:121) 10",
        f"{WORKER};run (onnxruntime/capi/x.py:1) 30",
        f"{WORKER};wait (threading.py:327) 60",
        "",
        "garbage without a count",
    ]
    assert stage_shares(lines) == {IDLE: 0.6, "dense (ONNX)": 0.3, "Qdrant write": 0.1}
    assert shares_line({"dense (ONNX)": 0.75, "parse": 0.25}) == "dense (ONNX) 75%, parse 25%"
    assert stage_shares([]) == {}
    assert shares_line({}) == "no samples"


@given(
    st.lists(
        st.tuples(st.sampled_from(["a (x.py:1)", "b (onnxruntime/y.py:2)"]), st.integers(1, 1000)),
        min_size=1,
    )
)
def test_shares_always_sum_to_one(samples: list[tuple[str, int]]) -> None:
    shares = stage_shares(f"{stack} {count}" for stack, count in samples)
    assert abs(sum(shares.values()) - 1) < 1e-9


def test_thread_busy_counts_only_the_named_thread() -> None:
    lines = [
        f"thread (11): embed-documents_0;{WORKER};run (onnxruntime/capi/x.py:1) 30",
        f"thread (11): embed-documents_0;{WORKER} 10",
        f"thread (12): MainThread;{LOOP};select (selectors.py:468) 500",
        "no thread frame;run (onnxruntime/capi/x.py:1) 7",
    ]
    assert thread_busy(lines, "embed-documents") == 0.75
    assert thread_busy(lines, "edge-write") is None
