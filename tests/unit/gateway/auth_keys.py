"""Key files for the access tests: one key per scope, secrets known to the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lectern_gateway.auth.keygen import key_entry
from lectern_gateway.auth.keys import ApiKey, hash_secret

SECRETS = {
    "reader": "lk_reader-secret-0000000000000000000000000",
    "writer": "lk_writer-secret-0000000000000000000000000",
    "admin": "lk_admin-secret-00000000000000000000000000",
}
SCOPES: dict[str, Any] = {"reader": {"read"}, "writer": {"write"}, "admin": {"admin"}}


def headers(name: str) -> dict[str, str]:
    """The ``X-API-Key`` header of a test key."""
    return {"X-API-Key": SECRETS[name]}


def write_key_file(path: Path, extra: str = "", **overrides: dict[str, Any]) -> Path:
    """Write a TOML key file with the three test keys (fields overridable by key id)."""
    entries = [
        key_entry(
            ApiKey(
                id=name,
                sha256=hash_secret(secret),
                scopes=frozenset(SCOPES[name]),
                **overrides.get(name, {}),
            ),
            "toml",
        )
        for name, secret in SECRETS.items()
    ]
    path.write_text(extra + "\n" + "\n\n".join(entries) + "\n")
    return path
