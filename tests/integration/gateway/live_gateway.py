"""The gateway under a real uvicorn server on loopback, in a thread with its own loop.

Tests (and ``bench/answer_streaming.py``) talk to it over a real TCP socket, so a client
that closes its connection is seen by the server as a real disconnect, and the gateway's
own event loop is not shared with the test's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from lectern_gateway.app import create_app
from lectern_gateway.settings import GatewaySettings


@contextmanager
def running_gateway(settings: GatewaySettings, start_timeout_s: float = 60.0) -> Iterator[str]:
    """Run the gateway app on 127.0.0.1 (a free port) until the block ends.

    Args:
        settings: the gateway's settings (``RABBITMQ_URL`` must reach a broker).
        start_timeout_s: how long start-up (the lifespan: broker, RPC client) may take.

    Yields:
        The base URL, e.g. ``http://127.0.0.1:41234``.

    Raises:
        RuntimeError: the server did not start in time.
    """
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the gateway did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
