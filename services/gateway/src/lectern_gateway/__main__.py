"""``lectern-gateway``: serve the HTTP API with uvicorn on ``GATEWAY_HOST:GATEWAY_PORT``.

``lectern-gateway keygen --id NAME --scopes read,write`` prints a new API key instead.
"""

from __future__ import annotations

import sys

import uvicorn

from lectern.logging import configure_logging
from lectern_gateway.app import create_app
from lectern_gateway.auth import keygen
from lectern_gateway.settings import GatewaySettings


def main() -> None:
    """Run the gateway until SIGINT/SIGTERM; uvicorn drains in-flight requests."""
    if sys.argv[1:2] == ["keygen"]:
        raise SystemExit(keygen.main(sys.argv[2:]))
    settings = GatewaySettings()
    configure_logging(settings.log_level, settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )


if __name__ == "__main__":
    main()
