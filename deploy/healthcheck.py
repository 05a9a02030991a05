"""Container health check of a Lectern service: exit 0 when its HTTP endpoint answers 2xx.

Run inside the image by the Dockerfile's ``HEALTHCHECK`` and by ``docker-compose.yml``
(standard library only: the image has no curl). The URL, by ``SERVICE``:

- ``gateway``: ``http://127.0.0.1:$GATEWAY_PORT/health/ready`` (port 8000 by default);
- ``indexer`` / ``session-logger``: ``http://127.0.0.1:$METRICS_PORT/metrics`` (9101 /
  9102 by default), the Prometheus port of the service.

``HEALTHCHECK_URL`` overrides it. Exit status 1 with one line on stderr when unhealthy.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping

TIMEOUT_S = 4.0
"""Seconds one check may take; below the HEALTHCHECK ``--timeout`` of 5 s."""

ENDPOINTS = {
    "gateway": ("GATEWAY_PORT", 8000, "/health/ready"),
    "indexer": ("METRICS_PORT", 9101, "/metrics"),
    "session-logger": ("METRICS_PORT", 9102, "/metrics"),
}
"""Per service: the variable holding the port, its default, and the path checked."""


def health_url(environ: Mapping[str, str]) -> str:
    """Return the URL to check for the service named by ``SERVICE`` in ``environ``.

    Raises:
        ValueError: ``SERVICE`` is missing or not a Lectern service, and no
            ``HEALTHCHECK_URL`` is given.
    """
    if environ.get("HEALTHCHECK_URL"):
        return environ["HEALTHCHECK_URL"]
    service = environ.get("SERVICE", "")
    if service not in ENDPOINTS:
        raise ValueError(f"SERVICE must be one of {sorted(ENDPOINTS)}, not {service!r}")
    variable, default_port, path = ENDPOINTS[service]
    port = environ.get(variable) or str(default_port)
    return f"http://127.0.0.1:{port}{path}"


def main() -> int:
    """Check once; return the exit status (0 healthy, 1 not)."""
    try:
        url = health_url(os.environ)
        with urllib.request.urlopen(url, timeout=TIMEOUT_S):  # 4xx/5xx raise HTTPError
            return 0
    except (ValueError, OSError) as exc:  # URLError and HTTPError are OSErrors
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
