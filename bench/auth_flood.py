"""Flood of random invalid API keys against a real gateway: 401/429 and flat memory.

Every answer must be 401 or 429, and the gateway's resident memory must stay flat.
Starts one ``lectern-gateway`` process (a key file with one key, the machine's RabbitMQ
in a temporary vhost, the local Redis under a key prefix of this run, deleted after),
warms it up, then sends N requests (default 10,000) each with a new random
``X-API-Key`` from C concurrent callers (default 32), and prints the status counts, the
gateway's RSS before and after (``/proc/<pid>/status``), and the Redis keys it made.

Run::

    uv run python -m bench.auth_flood [--requests 10000] [--concurrency 32] [--no-redis]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import drop_vhost, make_vhost
from tests.faults.harness import ServiceGroup, free_port, service_env
from tests.unit.gateway.auth_keys import write_key_file

from bench.report import Row, Target

REDIS_URL = "redis://127.0.0.1:6379/0"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def flood(url: str, total: int, concurrency: int) -> Counter[int]:
    counts: Counter[int] = Counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(total):
        queue.put_nowait(n)
    async with httpx.AsyncClient(timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                key = "lk_" + secrets.token_urlsafe(32)
                response = await client.get(url + "/v1/documents", headers={"X-API-Key": key})
                counts[response.status_code] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts


@dataclass(frozen=True)
class FloodResult:
    """Status counts of the warm-up and the flood, gateway RSS (KiB), Redis keys made."""

    warm: dict[int, int]
    counts: dict[int, int]
    rss_before_kib: int
    rss_after_kib: int
    redis_keys: list[str]


def measure(requests: int, concurrency: int, use_redis: bool) -> FloodResult:
    """Run the flood against a fresh gateway; the status counts, RSS (KiB) and Redis keys."""
    prefix = f"lectern-bench-{uuid.uuid4().hex[:8]}:"
    vhost, amqp_url = make_vhost()
    tmp = Path(tempfile.mkdtemp())
    services = ServiceGroup(tmp / "logs")
    extra = {"REDIS_URL": REDIS_URL, "REDIS_PREFIX": prefix} if use_redis else {}
    try:
        env = service_env(
            rabbitmq_url=amqp_url,
            gateway_port=free_port(),
            API_KEYS_FILE=str(write_key_file(tmp / "keys.toml")),
            LOG_LEVEL="WARNING",
            **extra,
        )
        gateway = services.start("gateway", env)
        gateway.wait_http_ok("/health/live")
        assert gateway.pid is not None
        url = f"http://127.0.0.1:{gateway.port}"
        warm = asyncio.run(flood(url, min(500, requests), concurrency))
        before = rss_kib(gateway.pid)
        counts = asyncio.run(flood(url, requests, concurrency))
        after = rss_kib(gateway.pid)
        stored = list(redis.Redis.from_url(REDIS_URL).scan_iter(prefix + "*")) if use_redis else []
        return FloodResult(
            dict(warm), dict(sorted(counts.items())), before, after, [k.decode() for k in stored]
        )
    finally:
        services.close()
        drop_vhost(vhost)
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(prefix + "*"))
        if keys:
            client.delete(*keys)


def rows(requests: int, concurrency: int) -> list[Row]:
    """The flood's report rows: answers other than 401/429 (must be 0) and RSS growth."""
    result = measure(requests, concurrency, use_redis=True)
    others = sum(n for status, n in result.counts.items() if status not in (401, 429))
    growth = result.rss_after_kib - result.rss_before_kib
    note = f"{requests} random keys, c={concurrency}: {result.counts}"
    return [
        Row(
            "8 auth flood",
            "answers other than 401/429",
            others,
            "",
            target=Target("max", 0),
            note=note,
        ),
        Row(
            "8 auth flood",
            "gateway RSS growth",
            growth / 1024,
            "MiB",
            note=f"before {result.rss_before_kib / 1024:.0f} MiB",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()
    result = measure(args.requests, args.concurrency, not args.no_redis)
    before, after = result.rss_before_kib, result.rss_after_kib
    print(f"warm-up: {result.warm}")
    print(f"flood of {args.requests} random keys: {result.counts}")
    print(f"gateway RSS: before {before} KiB, after {after} KiB ({after - before:+d} KiB)")
    print(f"redis keys made: {len(result.redis_keys)} {result.redis_keys}")


if __name__ == "__main__":
    main()
