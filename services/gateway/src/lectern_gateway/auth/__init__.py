"""Access control of the ``/v1`` API: keys with scopes, principals, rate limits.

:func:`build_access` is called once by the app factory; the router-level guard
:func:`require_scope` and the access middleware do the rest.
"""

from __future__ import annotations

from redis.asyncio import Redis

from lectern_gateway.auth.access import AccessControl, access_middleware
from lectern_gateway.auth.guards import require_api_key, require_scope
from lectern_gateway.auth.keyring import KeyRing
from lectern_gateway.auth.limits import Counters, MemoryCounters, RateLimiter, RedisCounters
from lectern_gateway.auth.principal import parse_networks, request_access
from lectern_gateway.settings import GatewaySettings

REDIS_TIMEOUT_S = 2.0
"""Socket timeouts towards Redis: past them a counter falls back to this process."""

__all__ = [
    "AccessControl",
    "access_middleware",
    "build_access",
    "request_access",
    "require_api_key",
    "require_scope",
]


def build_access(settings: GatewaySettings) -> tuple[AccessControl, Redis | None]:
    """Build the access control from settings (loads the key file; connects nothing).

    Returns:
        The access control and the Redis client it uses (close it on shutdown), or
        ``None`` without ``REDIS_URL``.

    Raises:
        KeyFileError: ``API_KEYS_FILE`` cannot be loaded.
    """
    keys = KeyRing(
        settings.api_keys_file, settings.api_key_set, check_every_s=settings.api_keys_reload_s
    )
    redis: Redis | None = None
    counters: Counters = MemoryCounters()
    if settings.redis_url is not None:
        redis = Redis.from_url(
            str(settings.redis_url),
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        counters = RedisCounters(redis, settings.redis_prefix)
    control = AccessControl(
        keys=keys,
        limiter=RateLimiter(counters),
        trusted_proxies=parse_networks(settings.trusted_proxies),
        default_limit=settings.rate_limit_per_minute,
        failure_limit=settings.auth_failures_per_minute,
        max_answers=settings.max_concurrent_answers,
    )
    return control, redis
