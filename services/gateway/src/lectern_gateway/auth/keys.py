"""API keys: the key file's format, loading it, and matching a presented secret.

A key file (``API_KEYS_FILE``, TOML or JSON by its extension) holds, for each key, its
``id``, the hex SHA-256 of its secret (never the secret), its ``scopes`` and the
``collections`` it may use, and optionally its own rate limits. TOML::

    [limits]                      # optional: requests per minute per scope, every key
    read = 600
    write = 120

    [[keys]]
    id = "ci"
    sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    scopes = ["read", "write"]
    collections = ["*"]           # "*": every collection (enforced with collections)
    rate_limit_per_minute = 300   # optional: this key, every scope (or a table by scope)
    max_concurrent_answers = 2    # optional

JSON holds the same object (``{"limits": {...}, "keys": [{...}]}``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
KEY_PREFIX = "lk_"
"""Prefix of every generated secret, so a leaked key is recognisable (secret scanners)."""

KeyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
CollectionName = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z0-9][a-z0-9_-]{0,62})$")]
PerMinute = Annotated[int, Field(ge=1, le=1_000_000)]


class KeyFileError(ValueError):
    """The key file cannot be read or does not follow the format (the message says where)."""


def hash_secret(secret: str) -> str:
    """Return the hex SHA-256 (64 chars) of a key's secret, as stored in the key file."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ApiKey(BaseModel):
    """One key of the key file.

    Attributes:
        id: stable name of the key (``[A-Za-z0-9._-]{1,64}``): the principal, the
            rate limiter's identity and the owner of the sessions it creates.
        sha256: hex SHA-256 of the secret.
        scopes: what it may do; ``admin`` implies ``read`` and ``write``.
        collections: collections it may use; ``["*"]`` for all.
        rate_limit_per_minute: its own limit for every scope (an int) or per scope.
        max_concurrent_answers: its own cap on answer requests in flight.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: KeyId
    sha256: Sha256Hex
    scopes: frozenset[Scope] = Field(min_length=1)
    collections: frozenset[CollectionName] = frozenset({"*"})
    rate_limit_per_minute: PerMinute | dict[Scope, PerMinute] | None = None
    max_concurrent_answers: Annotated[int, Field(ge=1, le=10_000)] | None = None

    def allows(self, scope: Scope) -> bool:
        """Whether this key holds ``scope`` (``admin`` holds every scope)."""
        return scope in self.scopes or "admin" in self.scopes


class KeyFile(BaseModel):
    """The whole key file: per-scope default limits and the keys (ids unique)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limits: dict[Scope, PerMinute] = Field(default_factory=dict)
    keys: tuple[ApiKey, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> KeyFile:
        ids = [key.id for key in self.keys]
        if len(ids) != len(set(ids)):
            raise ValueError("key ids must be unique")
        if len({key.sha256 for key in self.keys}) != len(ids):
            raise ValueError("two keys share one secret")
        return self

    def match(self, secret: str) -> ApiKey | None:
        """Return the key whose hash matches ``secret``'s, or ``None``.

        Compares against every key with :func:`hmac.compare_digest` (no early exit),
        so the time taken does not depend on which key, if any, matched.
        """
        presented = hash_secret(secret).encode()
        found: ApiKey | None = None
        for key in self.keys:
            if hmac.compare_digest(presented, key.sha256.encode()):
                found = key
        return found

    def limit_for(self, key: ApiKey, scope: Scope, default: int) -> int:
        """Requests per minute for ``key`` on a route of ``scope``.

        The key's own limit wins, then the file's per-scope limit, then ``default``.
        """
        own = key.rate_limit_per_minute
        if isinstance(own, int):
            return own
        if own and scope in own:
            return own[scope]
        return self.limits.get(scope, default)


def load_key_file(path: Path) -> KeyFile:
    """Read and validate a key file (``.toml``; anything else is read as JSON).

    Raises:
        KeyFileError: unreadable, not TOML/JSON, or not the key file format.
    """
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
        return KeyFile.model_validate(data)
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in exc.errors()
        )
        raise KeyFileError(f"key file {path}: {detail}") from exc
    except OSError as exc:
        raise KeyFileError(f"key file {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError) as exc:
        raise KeyFileError(f"key file {path}: not valid TOML/JSON: {exc}") from exc
