"""When the Edge optimiser runs: the policy alone, no store."""

from __future__ import annotations

from lectern_indexer.stores.edge_mapping import edge_config, indexing_threshold_points
from lectern_indexer.stores.edge_optimizer import OptimizePolicy
from lectern_indexer.stores.index_settings import (
    DENSE_VECTOR_BYTES,
    FULL_SCAN_THRESHOLD_KB,
    INDEXING_THRESHOLD_KB,
)


def test_the_default_waits_for_a_segment_worth_of_vectors() -> None:
    assert indexing_threshold_points() == INDEXING_THRESHOLD_KB * 1024 // DENSE_VECTOR_BYTES
    assert OptimizePolicy().min_pending == indexing_threshold_points()


def test_below_the_minimum_nothing_runs_however_idle() -> None:
    policy = OptimizePolicy(min_pending=100, max_pending=1000, idle_s=2)
    assert policy.reason(99, idle_for=3600) is None


def test_enough_pending_runs_only_when_idle() -> None:
    policy = OptimizePolicy(min_pending=100, max_pending=1000, idle_s=2)
    assert policy.reason(100, idle_for=1.9) is None
    assert policy.reason(100, idle_for=2.0) == "idle"


def test_a_backlog_runs_even_when_busy() -> None:
    policy = OptimizePolicy(min_pending=100, max_pending=1000, idle_s=2)
    assert policy.reason(1000, idle_for=0) == "backlog"


def test_failures_back_off_doubling_up_to_the_cap() -> None:
    policy = OptimizePolicy(interval_s=5, max_backoff_s=60)
    assert [policy.backoff(n) for n in range(5)] == [5, 10, 20, 40, 60]
    assert policy.backoff(10_000) == 60


def test_the_shard_config_names_every_index_setting() -> None:
    config = edge_config()
    hnsw = config.hnsw_config
    optimizers = config.optimizers
    assert hnsw is not None
    assert optimizers is not None
    assert (hnsw.m, hnsw.ef_construct, hnsw.payload_m) == (16, 100, 16)
    assert hnsw.full_scan_threshold == FULL_SCAN_THRESHOLD_KB
    assert optimizers.indexing_threshold == INDEXING_THRESHOLD_KB
    assert optimizers.max_segment_size is not None
    assert edge_config(300).optimizers.indexing_threshold == 300  # type: ignore[union-attr]
