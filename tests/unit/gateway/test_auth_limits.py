"""Rate limits keyed on the validated identity; invalid keys limited by address only."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from litestar.exceptions import TooManyRequestsException
from litestar.testing import TestClient
from tests.unit.gateway.auth_keys import headers, write_key_file
from tests.unit.gateway.test_api import FakeBackends

from lectern_gateway.app import create_app
from lectern_gateway.auth.access import admit
from lectern_gateway.auth.limits import MemoryCounters
from lectern_gateway.auth.principal import client_address, parse_networks
from lectern_gateway.settings import GatewaySettings

DOC = {"title": "t", "format": "text", "content": "a"}


def _app(tmp_path: Path, **settings: Any) -> tuple[Any, FakeBackends]:
    key_file = write_key_file(
        tmp_path / "keys.toml", writer={"rate_limit_per_minute": 3, "max_concurrent_answers": 1}
    )
    config = GatewaySettings(api_keys_file=key_file, **settings)
    backends = FakeBackends(config)
    return create_app(config, backends=backends), backends


def test_a_flood_of_random_keys_gets_401_then_429_and_creates_one_counter(tmp_path: Path):
    app, _ = _app(tmp_path, auth_failures_per_minute=20)
    counters = app.state.access.limiter.counters
    assert isinstance(counters, MemoryCounters)
    with TestClient(app) as client:
        statuses = [
            client.post("/v1/search", json={"query": "x"}, headers={"X-API-Key": "lk_" + s})
            for s in (secrets.token_urlsafe(16) for _ in range(200))
        ]
        assert [r.status_code for r in statuses[:20]] == [401] * 20
        assert {r.status_code for r in statuses[20:]} == {429}
        assert int(statuses[-1].headers["retry-after"]) >= 1
        assert len(counters) == 1  # the address's failure counter, nothing per key
        ok = client.post("/v1/documents", json=DOC, headers=headers("writer"))
        assert ok.status_code == 202  # the flood did not spend a valid key's budget


def test_a_key_over_its_limit_gets_429_with_retry_after_and_ratelimit_headers(tmp_path: Path):
    app, _ = _app(tmp_path)
    with TestClient(app) as client:
        answers = [
            client.post("/v1/documents", json=DOC, headers=headers("writer")) for _ in range(4)
        ]
        assert [r.status_code for r in answers] == [202, 202, 202, 429]
        first, limited = answers[0], answers[-1]
        assert first.headers["ratelimit-limit"] == "3"
        assert first.headers["ratelimit-remaining"] == "2"
        assert first.headers["ratelimit-policy"] == "3;w=60"
        assert limited.headers["ratelimit-remaining"] == "0"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.headers["content-type"].startswith("application/problem+json")
        other = client.post("/v1/documents", json=DOC, headers=headers("admin"))
        assert other.status_code == 202


def test_the_same_header_twice_is_one_identity_and_anonymous_is_by_address(tmp_path: Path):
    settings = GatewaySettings(rate_limit_per_minute=2)
    with TestClient(create_app(settings, backends=FakeBackends(settings))) as client:
        got = [
            client.post("/v1/documents", json=DOC, headers={"X-API-Key": f"random-{n}"})
            for n in range(3)
        ]
        assert [r.status_code for r in got] == [202, 202, 429]  # headers do not buy budget


def _answer_scope(app: Any, secret: str) -> Any:
    route = next(r for r in app.routes if r.path == "/v1/answers")
    handler, _ = route.route_handler_map["POST"]
    return {
        "type": "http",
        "client": ("192.0.2.1", 5000),
        "headers": [(b"x-api-key", secret.encode())],
        "route_handler": handler,
    }


async def test_concurrent_answers_are_capped_per_key(tmp_path: Path):
    app, _ = _app(tmp_path, rate_limit_per_minute=1000, max_concurrent_answers=2)
    control = app.state.access
    writer = _answer_scope(app, headers("writer")["X-API-Key"])  # its own cap: 1
    admin = _answer_scope(app, headers("admin")["X-API-Key"])  # the default cap: 2
    _, _, slot = await admit(control, writer)
    with pytest.raises(TooManyRequestsException) as busy:
        await admit(control, writer)
    assert busy.value.headers == {"Retry-After": "1"}
    await admit(control, admin)  # another key has its own slots
    await admit(control, admin)
    with pytest.raises(TooManyRequestsException):
        await admit(control, admin)
    assert slot == "answers:key:writer"
    await control.limiter.counters.release(slot)
    await admit(control, writer)


NETS = parse_networks("10.0.0.0/8, 192.168.1.1/32, fd00::/8")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", "", "203.0.113.9"),
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.5", "198.51.100.7", "198.51.100.7"),
        ("10.0.0.5", "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # spoofed left part ignored
        ("10.0.0.5", "198.51.100.7, 10.2.2.2", "198.51.100.7"),  # two trusted hops
        ("10.0.0.5", "10.2.2.2", "10.2.2.2"),
        ("10.0.0.5", "not-an-ip", "10.0.0.5"),
        ("fd00::1", "2001:db8::1", "2001:db8::1"),
        ("192.168.1.2", "1.1.1.1", "192.168.1.2"),
        (None, "1.1.1.1", "unknown"),
    ],
)
def test_forwarded_for_is_believed_only_through_trusted_proxies(
    peer: str | None, forwarded: str, expected: str
):
    assert client_address(peer, forwarded, NETS) == expected
