"""What ``python -m bench`` measures at which sizes: the full run and the ``--quick`` one."""

from __future__ import annotations

from dataclasses import dataclass

from bench.corpora import Body, Corpus

REINGEST_MARK = "\n<!-- lectern bench: re-ingest -->\n"
"""Appended to re-ingested documents: a new version (so every chunk is embedded and
written again) with the same text, so the collection keeps its size."""


@dataclass(frozen=True)
class Sizes:
    """Sizes of one run.

    Attributes:
        gazebo_files, python_files, scifact_documents: documents ingested per corpus
            (``None``: all).
        search_requests: requests per concurrency level (gateway and in-process).
        scale_points: collection sizes of the Qdrant scaling benchmark.
        events: events of the event-log benchmark.
        rpc_requests, rpc_concurrency: the RPC benchmark.
        flood_requests, flood_concurrency: the random-key flood.
    """

    gazebo_files: int | None
    python_files: int | None
    scifact_documents: int | None
    search_requests: int
    scale_points: tuple[int, ...]
    events: int
    rpc_requests: int
    rpc_concurrency: int
    flood_requests: int
    flood_concurrency: int


FULL = Sizes(
    gazebo_files=None,
    python_files=None,
    scifact_documents=None,
    search_requests=2000,
    scale_points=(10_000, 100_000, 1_000_000),
    events=100_000,
    rpc_requests=2000,
    rpc_concurrency=64,
    flood_requests=10_000,
    flood_concurrency=32,
)
QUICK = Sizes(
    gazebo_files=4,
    python_files=2,
    scifact_documents=30,
    search_requests=60,
    scale_points=(1_000, 4_000),
    events=2_000,
    rpc_requests=200,
    rpc_concurrency=16,
    flood_requests=300,
    flood_concurrency=8,
)


def reingested(corpus: Corpus) -> Corpus:
    """``corpus`` with :data:`REINGEST_MARK` appended to every document (same ids)."""
    bodies: list[Body] = [
        body | {"content": body["content"] + REINGEST_MARK} for body in corpus.bodies
    ]
    return Corpus(f"{corpus.name} (re-ingest)", bodies)
