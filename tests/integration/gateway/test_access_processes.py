"""Rate limits that hold across real gateway processes sharing one Redis, and a flood of
random invalid keys that neither passes nor grows the gateway's memory.

Two ``lectern-gateway`` processes (uvicorn on free loopback ports, a real RabbitMQ vhost,
the local Redis with a key prefix of this test, deleted after).
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from tests.faults.harness import ServiceGroup, ServiceProcess, free_port, service_env
from tests.unit.gateway.auth_keys import headers, write_key_file

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"
DOC = {"title": "t", "format": "text", "content": "hello"}


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"lectern-test-{uuid.uuid4().hex[:10]}:"
    client = redis.Redis.from_url(REDIS_URL)
    yield name
    keys = list(client.scan_iter(match=name + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[ServiceGroup]:
    group = ServiceGroup(tmp_path / "logs")
    yield group
    group.close()


def start_gateways(
    services: ServiceGroup, amqp_url: str, key_file: Path, count: int, **extra: str
) -> list[ServiceProcess]:
    gateways = []
    for n in range(count):
        env = service_env(
            rabbitmq_url=amqp_url,
            gateway_port=free_port(),
            API_KEYS_FILE=str(key_file),
            **extra,
        )
        gateways.append(services.start("gateway", env, label=f"gateway-{n}"))
    for gateway in gateways:
        gateway.wait_http_ok("/health/live", timeout=120)
    return gateways


def wait_for_a_fresh_window(seconds_needed: float = 20) -> None:
    """Wait until the current one-minute window has ``seconds_needed`` left."""
    while 60 - time.time() % 60 < seconds_needed:
        time.sleep(0.2)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def _fire(
    urls: list[str], total: int, make_headers: object, concurrency: int = 90
) -> Counter[int]:
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=100)) as client:

        async def one(n: int) -> int:
            assert callable(make_headers)
            async with gate:
                response = await client.post(
                    urls[n % len(urls)] + "/v1/documents", json=DOC, headers=make_headers()
                )
            return response.status_code

        statuses = await asyncio.gather(*(one(n) for n in range(total)))
    return Counter(statuses)


def test_two_gateways_share_one_redis_backed_limit(
    services: ServiceGroup, amqp_url: str, prefix: str, tmp_path: Path
):
    key_file = write_key_file(tmp_path / "keys.toml", writer={"rate_limit_per_minute": 30})
    gateways = start_gateways(
        services, amqp_url, key_file, 2, REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix
    )
    urls = [f"http://127.0.0.1:{g.port}" for g in gateways]
    wait_for_a_fresh_window()
    statuses = asyncio.run(_fire(urls, 90, lambda: headers("writer")))
    print(f"\n2 gateways, limit 30/min, 90 concurrent requests: {dict(statuses)}")
    assert statuses == Counter({202: 30, 429: 60})


def test_without_redis_each_process_counts_alone(
    services: ServiceGroup, amqp_url: str, tmp_path: Path
):
    key_file = write_key_file(tmp_path / "keys.toml", writer={"rate_limit_per_minute": 10})
    gateways = start_gateways(services, amqp_url, key_file, 2)
    urls = [f"http://127.0.0.1:{g.port}" for g in gateways]
    wait_for_a_fresh_window()
    statuses = asyncio.run(_fire(urls, 40, lambda: headers("writer")))
    assert statuses == Counter({202: 20, 429: 20})  # documented: per process


def test_a_flood_of_random_keys_gets_401_or_429_and_memory_stays_flat(
    services: ServiceGroup, amqp_url: str, prefix: str, tmp_path: Path
):
    key_file = write_key_file(tmp_path / "keys.toml")
    (gateway,) = start_gateways(
        services,
        amqp_url,
        key_file,
        1,
        REDIS_URL=REDIS_URL,
        REDIS_PREFIX=prefix,
        AUTH_FAILURES_PER_MINUTE="100",
    )
    assert gateway.pid is not None
    url = f"http://127.0.0.1:{gateway.port}"
    wait_for_a_fresh_window(30)

    def random_key() -> dict[str, str]:
        return {"X-API-Key": "lk_" + secrets.token_urlsafe(32)}

    warm_up = asyncio.run(_fire([url], 150, random_key, 16))  # first allocations, imports
    assert warm_up == Counter({401: 100, 429: 50})
    before = rss_kib(gateway.pid)
    statuses = asyncio.run(_fire([url], 500, random_key, 16))  # 10,000: bench/auth_flood.py
    after = rss_kib(gateway.pid)
    print(f"\nflood of 500 random keys: {dict(statuses)}; RSS {before} KiB -> {after} KiB")
    assert set(statuses) == {429}  # the warm-up spent the address's 100 failures
    assert after - before < 32 * 1024
    stored = list(redis.Redis.from_url(REDIS_URL).scan_iter(match=prefix + "*"))
    assert len(stored) <= 2  # one failure counter per window, nothing per key
    ok = httpx.post(url + "/v1/documents", json=DOC, headers=headers("writer"), timeout=30)
    assert ok.status_code == 202
