"""Rate-limit counters: fixed windows and concurrency slots, in process or in Redis.

The limiter counts in fixed windows aligned to the epoch (``window = now // 60``): one
counter per identity and window, incremented atomically, expiring with its window.
With ``REDIS_URL`` the counters live in Redis (``INCR`` in a Lua script, atomic across
every gateway replica; Litestar's ``RateLimitMiddleware`` over its ``RedisStore`` does a
get-then-set under a process-local lock, which loses increments between replicas).
Without Redis, or while Redis does not answer, they live in this process.

Memory is bounded by the identities seen in one window: validated key ids, and client
addresses (anonymous callers and failed authentications); nothing keyed by a raw header.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from lectern.logging import get_logger

log = get_logger(__name__)

PURGE_ABOVE = 1024
"""Entries above which the in-process counters drop expired ones (at most once a second)."""

_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""
_ACQUIRE = """
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if n > tonumber(ARGV[1]) then redis.call('DECR', KEYS[1]) return 0 end
return 1
"""
_RELEASE = """
if redis.call('DECR', KEYS[1]) < 0 then redis.call('SET', KEYS[1], 0) end
return 1
"""


class Counters(Protocol):
    """Atomic counters shared by whoever uses the same backend."""

    async def hit(self, key: str, ttl_s: int) -> int:
        """Increment ``key`` (created with a ``ttl_s`` seconds lifetime); return its count."""
        ...

    async def acquire(self, key: str, cap: int, ttl_s: int) -> bool:
        """Take one of ``cap`` slots of ``key``; ``False`` when all are taken."""
        ...

    async def release(self, key: str) -> None:
        """Give back a slot taken by :meth:`acquire`."""
        ...


class MemoryCounters:
    """:class:`Counters` in this process (one gateway process's view only)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts: dict[str, tuple[int, float]] = {}
        self._slots: dict[str, int] = {}
        self._next_purge = 0.0

    def __len__(self) -> int:
        return len(self._counts) + len(self._slots)

    async def hit(self, key: str, ttl_s: int) -> int:  # noqa: D102
        now = self._clock()
        self._purge(now)
        count, expires = self._counts.get(key, (0, now + ttl_s))
        if expires <= now:
            count, expires = 0, now + ttl_s
        self._counts[key] = (count + 1, expires)
        return count + 1

    async def acquire(self, key: str, cap: int, ttl_s: int) -> bool:  # noqa: D102
        held = self._slots.get(key, 0)
        if held >= cap:
            return False
        self._slots[key] = held + 1
        return True

    async def release(self, key: str) -> None:  # noqa: D102
        held = self._slots.pop(key, 0) - 1
        if held > 0:
            self._slots[key] = held

    def _purge(self, now: float) -> None:
        if len(self._counts) > PURGE_ABOVE and now >= self._next_purge:
            self._next_purge = now + 1.0
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}


class RedisCounters:
    """:class:`Counters` in Redis, shared by every gateway replica.

    Keys are ``prefix`` + the counter's key. A Redis error degrades to in-process
    counting (logged), so the gateway keeps serving while Redis is away.
    """

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._hit = redis.register_script(_HIT)
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self.fallback = MemoryCounters()

    async def hit(self, key: str, ttl_s: int) -> int:  # noqa: D102
        try:
            return int(await self._hit(keys=[self._prefix + key], args=[ttl_s]))
        except (RedisError, OSError) as exc:
            log.warning("ratelimit.redis_unavailable", error=type(exc).__name__)
            return await self.fallback.hit(key, ttl_s)

    async def acquire(self, key: str, cap: int, ttl_s: int) -> bool:  # noqa: D102
        try:
            return bool(await self._acquire(keys=[self._prefix + key], args=[cap, ttl_s]))
        except (RedisError, OSError) as exc:
            log.warning("ratelimit.redis_unavailable", error=type(exc).__name__)
            return await self.fallback.acquire(key, cap, ttl_s)

    async def release(self, key: str) -> None:  # noqa: D102
        try:
            await self._release(keys=[self._prefix + key])
        except (RedisError, OSError):
            await self.fallback.release(key)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rate-limit decision, and what the ``RateLimit-*`` headers say about it."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int

    def headers(self, window_s: int) -> dict[str, str]:
        """``RateLimit-*`` headers (IETF draft-ietf-httpapi-ratelimit-headers)."""
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
            "RateLimit-Policy": f"{self.limit};w={window_s}",
        }


class RateLimiter:
    """Fixed-window limits over :class:`Counters`.

    Args:
        counters: where the counts live.
        window_s: window length in seconds (60: limits are per minute).
        clock: wall clock in seconds (windows are aligned to the epoch, so replicas agree).
    """

    def __init__(
        self, counters: Counters, window_s: int = 60, clock: Callable[[], float] = time.time
    ) -> None:
        self.counters = counters
        self.window_s = window_s
        self._clock = clock

    async def hit(self, identity: str, limit: int) -> Verdict:
        """Count one request of ``identity`` against ``limit`` per window."""
        now = self._clock()
        window = int(now // self.window_s)
        count = await self.counters.hit(f"rl:{identity}:{window}", self.window_s + 1)
        reset = max(1, math.ceil((window + 1) * self.window_s - now))
        return Verdict(count <= limit, limit, max(0, limit - count), reset)
