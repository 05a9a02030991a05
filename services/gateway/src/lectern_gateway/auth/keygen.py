"""``lectern-gateway keygen`` (or ``lectern-keygen``): make a new API key.

Prints the secret once (give it to the client; it is never stored) and the entry to add
to the key file, holding only the secret's SHA-256::

    $ lectern-gateway keygen --id ci --scopes read,write
    lk_3q2...                      (the secret: 256 random bits, url-safe base64)
    [[keys]]
    id = "ci"
    sha256 = "..."
    ...
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Sequence

from lectern_gateway.auth.keys import KEY_PREFIX, SCOPES, ApiKey, hash_secret

SECRET_BYTES = 32
"""Random bytes per secret: 256 bits from :func:`secrets.token_urlsafe` (>= 128 asked)."""


def new_secret() -> str:
    """Return a new secret: ``lk_`` and 43 url-safe base64 characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def key_entry(key: ApiKey, fmt: str) -> str:
    """Render ``key`` as a key-file entry: a TOML ``[[keys]]`` table or a JSON object."""
    data = key.model_dump(mode="json", exclude_none=True)
    data["scopes"] = sorted(key.scopes)
    data["collections"] = sorted(key.collections)
    if fmt == "json":
        return json.dumps(data)
    return "\n".join(["[[keys]]", *(f"{name} = {_toml(value)}" for name, value in data.items())])


def _toml(value: object) -> str:
    if isinstance(value, dict):  # an inline table: {read = 60, write = 10}
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)  # strings, ints and lists of strings read the same in TOML


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lectern-gateway keygen", description=__doc__)
    parser.add_argument("--id", required=True, help="key id, [A-Za-z0-9._-]{1,64}")
    parser.add_argument("--scopes", default="read", help=f"comma-separated, of {SCOPES}")
    parser.add_argument("--collections", default="*", help="comma-separated; * for all")
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per minute")
    parser.add_argument("--max-concurrent-answers", type=int, default=None)
    parser.add_argument("--format", choices=["toml", "json"], default="toml")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print a new secret and its key-file entry; exit 2 on invalid arguments."""
    args = _parser().parse_args(argv)
    secret = new_secret()
    try:
        key = ApiKey(
            id=args.id,
            sha256=hash_secret(secret),
            scopes=frozenset(s.strip() for s in args.scopes.split(",") if s.strip()),
            collections=frozenset(c.strip() for c in args.collections.split(",") if c.strip()),
            rate_limit_per_minute=args.rate_limit,
            max_concurrent_answers=args.max_concurrent_answers,
        )
    except ValueError as exc:
        print(f"keygen: {exc}", file=sys.stderr)
        return 2
    print(f"# secret for {key.id} (shown once, give it to the client):", file=sys.stderr)
    print(secret)
    print("# add to API_KEYS_FILE:", file=sys.stderr)
    print(key_entry(key, args.format))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
