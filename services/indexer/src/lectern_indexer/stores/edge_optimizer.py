"""Builds Qdrant Edge's HNSW graphs: calls ``EdgeShard.optimize()`` when it is worth it.

Qdrant Edge has no background optimiser: a segment gets its HNSW graph (and small
segments are merged, deleted points vacuumed) only inside ``EdgeShard.optimize()``,
which runs every planned optimisation and returns when none is left. Without it every
search scans every vector exactly, which grows linearly with the shard (see
``bench/qdrant_scaling.py``).

``optimize()`` lets the engine read and write during the build (it wraps the segments in
proxies, copy-on-write) but qdrant-edge-py 0.9 holds the GIL for the whole call, so the
indexer process pauses while it runs: 10k points take about 5-10 s on 2 cores. The
policy therefore (1) waits until at least a segment's worth of dense vectors is outside a
graph (below that, exact search over them is as fast as the graph), (2) prefers a moment
when the store has been idle, and (3) runs anyway once so many are pending that exact
search over them costs more than the pause, which also bounds the pause.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

from lectern.logging import get_logger
from lectern_indexer.errors import StoreUnavailableError
from lectern_indexer.stores.edge import QdrantEdgeStore
from lectern_indexer.stores.edge_mapping import indexing_threshold_points

log = get_logger(__name__)

OPTIMIZE_RUNS = Counter(
    "lectern_indexer_qdrant_optimize_runs",
    "EdgeShard.optimize() calls, by reason (idle, backlog) and outcome (optimized, "
    "unchanged, error).",
    ["reason", "outcome"],
)
OPTIMIZE_SECONDS = Histogram(
    "lectern_indexer_qdrant_optimize_duration_seconds",
    "Duration of one EdgeShard.optimize() call (the process pauses meanwhile).",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
UNINDEXED_VECTORS = Gauge(
    "lectern_indexer_qdrant_unindexed_vectors",
    "Dense vectors outside an HNSW graph (searched exactly), at the last check.",
)


@dataclass(frozen=True)
class OptimizePolicy:
    """When to optimise.

    Attributes:
        min_pending: dense vectors outside a graph before an idle optimisation runs;
            default one segment's indexing threshold (about 6,666).
        max_pending: dense vectors outside a graph at which it runs even when busy.
        idle_s: seconds without a store call that count as idle.
        interval_s: seconds between checks.
        max_backoff_s: longest wait after consecutive failures (doubling from
            ``interval_s``).
    """

    min_pending: int = indexing_threshold_points()
    max_pending: int = 5 * indexing_threshold_points()
    idle_s: float = 2.0
    interval_s: float = 5.0
    max_backoff_s: float = 300.0

    def reason(self, pending: int, idle_for: float) -> str | None:
        """``"idle"``, ``"backlog"`` or ``None`` (not yet) for ``pending`` vectors, idle seconds."""
        if pending >= self.max_pending:
            return "backlog"
        if pending >= self.min_pending and idle_for >= self.idle_s:
            return "idle"
        return None

    def backoff(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failed runs (0: ``interval_s``)."""
        return min(self.max_backoff_s, self.interval_s * float(2 ** min(failures, 16)))


@dataclass
class OptimizeRun:
    """The last optimisation: why, whether it changed anything, how long, what was left."""

    reason: str
    changed: bool
    seconds: float
    pending_before: int
    pending_after: int


class EdgeOptimizer:
    """Runs :meth:`QdrantEdgeStore.optimize` per :class:`OptimizePolicy`, one at a time.

    Args:
        store: the open Edge store.
        policy: thresholds; the defaults suit production.
    """

    def __init__(self, store: QdrantEdgeStore, policy: OptimizePolicy | None = None) -> None:
        self.store = store
        self.policy = policy or OptimizePolicy()
        self.last_run: OptimizeRun | None = None
        self.last_error: BaseException | None = None
        self.failures = 0
        self.checked = asyncio.Event()
        """Set after each check of the loop, failed or not (for health probes and tests)."""
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the checking loop (call after the store opened)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="edge-optimizer")

    async def stop(self) -> None:
        """Stop the loop; a running ``optimize()`` finishes first (it cannot be interrupted)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        async with self._lock:  # wait out an optimisation started by run()
            pass

    async def check(self) -> OptimizeRun | None:
        """Optimise now if the policy says so; return the run, or ``None`` if not due.

        Raises:
            StoreUnavailableError: reading the shard's state or optimising failed.
        """
        idle_for = time.monotonic() - self.store.last_call  # before our own call below
        _, pending = await self.store.index_state()
        UNINDEXED_VECTORS.set(pending)
        reason = self.policy.reason(pending, idle_for)
        return None if reason is None else await self.run(reason, pending)

    async def run(self, reason: str = "requested", pending: int | None = None) -> OptimizeRun:
        """Optimise now (after any optimisation already running), log and count it.

        Raises:
            StoreUnavailableError: the engine failed; counted as ``outcome="error"``.
        """
        async with self._lock:
            try:
                if pending is None:
                    pending = (await self.store.index_state())[1]
                started = time.perf_counter()
                changed = await self.store.optimize()
                seconds = time.perf_counter() - started
                _, after = await self.store.index_state()
            except StoreUnavailableError:
                OPTIMIZE_RUNS.labels(reason, "error").inc()
                raise
            OPTIMIZE_SECONDS.observe(seconds)
            OPTIMIZE_RUNS.labels(reason, "optimized" if changed else "unchanged").inc()
            UNINDEXED_VECTORS.set(after)
        self.last_run = OptimizeRun(reason, changed, seconds, pending, after)
        log.info(
            "qdrant.optimized",
            reason=reason,
            changed=changed,
            seconds=round(seconds, 3),
            unindexed_before=pending,
            unindexed_after=after,
        )
        return self.last_run

    async def _loop(self) -> None:
        while True:
            try:
                await self.check()
            except StoreUnavailableError as exc:
                self.failures += 1
                self.last_error = exc
                log.error(
                    "qdrant.optimize_failed",
                    failures=self.failures,
                    retry_in_s=self.policy.backoff(self.failures),
                    exc_info=exc,
                )
            else:
                self.failures = 0
                self.last_error = None
            self.checked.set()
            await asyncio.sleep(self.policy.backoff(self.failures))
