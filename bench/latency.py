"""Closed-loop load with latencies in HDR histograms (``hdrhistogram``, HdrHistogram_py).

:func:`closed_loop` runs ``concurrency`` asyncio callers, each sending its next request
as soon as the previous one answered, until ``requests`` have been sent; every latency
goes into an :class:`~hdrh.histogram.HdrHistogram` (1 us to 60 s, 3 significant digits,
Gil Tene's HdrHistogram), which gives exact-enough percentiles without keeping samples.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3


def new_histogram() -> HdrHistogram:
    """An empty histogram of microseconds (1 us to 60 s, 3 significant digits)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass(frozen=True)
class LoadResult:
    """Figures of one load run.

    Attributes:
        requests: requests that answered successfully.
        errors: requests that raised.
        seconds: wall time of the run.
        p50_ms, p95_ms, p99_ms, max_ms: latency percentiles in milliseconds.
    """

    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def summarise(histogram: HdrHistogram, errors: int, seconds: float) -> LoadResult:
    """Read the percentiles of ``histogram`` (microseconds) into a :class:`LoadResult`."""

    def ms(percentile: float) -> float:
        return float(histogram.get_value_at_percentile(percentile)) / 1000

    return LoadResult(
        requests=int(histogram.get_total_count()),
        errors=errors,
        seconds=seconds,
        p50_ms=ms(50),
        p95_ms=ms(95),
        p99_ms=ms(99),
        max_ms=float(histogram.get_max_value()) / 1000,
    )


async def closed_loop(
    call: Callable[[int], Awaitable[object]],
    *,
    concurrency: int,
    requests: int,
    warmup: int = 0,
    stop: asyncio.Event | None = None,
) -> LoadResult:
    """Send ``requests`` calls from ``concurrency`` callers; time each into a histogram.

    Args:
        call: sends request ``n`` (0-based) and returns when it answered; raising
            counts as an error (not recorded in the histogram).
        concurrency: callers at once.
        requests: calls measured (after ``warmup`` sequential unmeasured calls).
        warmup: calls made first and not measured.
        stop: when set, callers stop early (e.g. once a concurrent ingest finished).
    """
    for n in range(warmup):
        await call(-1 - n)
    histogram = new_histogram()
    errors = 0
    next_n = 0

    async def caller() -> None:
        nonlocal next_n, errors
        while next_n < requests and not (stop is not None and stop.is_set()):
            n, next_n = next_n, next_n + 1
            started = time.perf_counter()
            try:
                await call(n)
            except Exception:  # an error is a figure here, not a crash
                errors += 1
                continue
            elapsed_us = round((time.perf_counter() - started) * 1_000_000)
            histogram.record_value(min(max(elapsed_us, LOWEST_US), HIGHEST_US))

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return summarise(histogram, errors, time.perf_counter() - started)
