"""The gateway's app factory and composition root (Litestar).

``create_app`` wires controllers, the problem-details mapping and the lifespan that
connects the broker and the RPC client; nothing connects at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from lectern.broker import create_broker, declare_topology
from lectern.logging import configure_logging, get_logger
from lectern.rpc import RpcClient
from lectern_gateway.answers.controllers import AnswerController
from lectern_gateway.answers.llm import llm_lifespan
from lectern_gateway.answers.openai_compat import ChatCompletionsController
from lectern_gateway.auth import rate_limit_identifier
from lectern_gateway.backends import Backends
from lectern_gateway.controllers.documents import DocumentController
from lectern_gateway.controllers.health import HealthController, asyncapi_document
from lectern_gateway.controllers.reads import (
    AnalyticsController,
    SessionController,
)
from lectern_gateway.controllers.search import SearchController
from lectern_gateway.errors import EXCEPTION_HANDLERS
from lectern_gateway.middleware import request_id_middleware
from lectern_gateway.settings import GatewaySettings

log = get_logger(__name__)


def create_app(
    settings: GatewaySettings | None = None, *, backends: Backends | None = None
) -> Litestar:
    """Build the gateway application.

    Args:
        settings: explicit settings (tests); read from the environment when ``None``.
        backends: ready-made connections (unit tests pass fakes); when ``None`` the
            lifespan connects to RabbitMQ and closes the connections on shutdown.

    Returns:
        The Litestar app; its lifespan connects to RabbitMQ and closes on shutdown.
    """
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if backends is not None:
            app.state.backends = backends
            yield
            return
        url = str(settings.rabbitmq_url)
        broker = create_broker(url, fail_fast=True)
        rpc = RpcClient(url, name="gateway")
        await broker.connect()
        await declare_topology(url)
        await rpc.connect()
        app.state.backends = Backends(settings=settings, broker=broker, rpc=rpc)
        log.info("gateway.started", api_keys=len(settings.api_key_set))
        try:
            yield
        finally:
            await rpc.close()
            await broker.stop()
            log.info("gateway.stopped")

    def provide_backends() -> Backends:
        backends: Backends = app.state.backends
        return backends

    metrics = PrometheusConfig(
        app_name="lectern-gateway",
        prefix="lectern_gateway",
        exclude=["^/metrics", "^/health"],
        group_path=True,
    )
    app = Litestar(
        route_handlers=[
            DocumentController,
            SessionController,
            AnalyticsController,
            SearchController,
            AnswerController,
            ChatCompletionsController,
            HealthController,
            asyncapi_document,
            PrometheusController,
        ],
        lifespan=[lifespan, llm_lifespan(settings)],
        dependencies={"backends": Provide(provide_backends, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            request_id_middleware,
            metrics.middleware,
            RateLimitConfig(
                rate_limit=("minute", settings.rate_limit_per_minute),
                exclude=["^/health", "^/schema", "^/metrics"],
                identifier_for_request=rate_limit_identifier,
            ).middleware,
        ],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Lectern",
            version="0.1.0",
            description="Event-driven retrieval-augmented-generation backend.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        debug=False,
    )
    return app


def main_app() -> Litestar:
    """Build the app from the environment, with logging configured (for uvicorn)."""
    settings = GatewaySettings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)
