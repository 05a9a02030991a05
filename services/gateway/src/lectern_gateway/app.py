"""The gateway's app factory and composition root (Litestar).

``create_app`` wires controllers, the problem-details mapping and the lifespan that
connects the broker and the RPC client; nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.plugins.pydantic import PydanticInitPlugin

from lectern.broker import create_broker, declare_topology
from lectern.logging import configure_logging, get_logger
from lectern.rpc import RpcClient
from lectern.tracing import tracing_middlewares
from lectern_gateway.answers.controllers import AnswerController
from lectern_gateway.answers.feedback import FeedbackController
from lectern_gateway.answers.llm import llm_lifespan
from lectern_gateway.answers.openai_compat import ChatCompletionsController
from lectern_gateway.auth import access_middleware, build_access, require_scope
from lectern_gateway.backends import Backends
from lectern_gateway.collections.controller import CollectionController
from lectern_gateway.controllers.batch import BatchController
from lectern_gateway.controllers.documents import DocumentController
from lectern_gateway.controllers.events import EventController, message_schema_document
from lectern_gateway.controllers.health import HealthController, asyncapi_document
from lectern_gateway.controllers.reads import (
    AnalyticsController,
    SessionController,
)
from lectern_gateway.controllers.search import SearchController
from lectern_gateway.deadletters.controller import DeadLetterController
from lectern_gateway.dependencies import monitor_dependencies
from lectern_gateway.errors import EXCEPTION_HANDLERS
from lectern_gateway.middleware import (
    add_request_id_header,
    add_security_headers,
    correct_options_allow,
    request_id_middleware,
)
from lectern_gateway.openapi import (
    API_KEY_SECURITY,
    SECURITY_SCHEMES,
    document_event_streams,
    document_problem_responses,
    use_pydantic_request_schemas,
)
from lectern_gateway.request_body import JsonRequest, body_timeout_middleware
from lectern_gateway.settings import GatewaySettings
from lectern_gateway.tracing import tracing_lifespan, tracing_plugins

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
    access, redis = build_access(settings)

    @asynccontextmanager
    async def close_redis(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if redis is not None:
                await redis.aclose()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if backends is not None:
            app.state.backends = backends
            async with _running(backends, settings):
                yield
            return
        url = str(settings.rabbitmq_url)
        broker = create_broker(url, fail_fast=True, middlewares=tracing_middlewares(settings))
        rpc = RpcClient(url, name="gateway")
        await broker.connect()
        await declare_topology(url, indexer_shards=settings.indexer_shards)
        await rpc.connect()
        app.state.backends = connected = Backends(settings=settings, broker=broker, rpc=rpc)
        log.info("gateway.started", open=access.keys.open, keys=len(access.keys.current().keys))
        try:
            async with _running(connected, settings):
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
    v1 = Router(
        path="/v1",
        route_handlers=[
            CollectionController,
            DocumentController,
            BatchController,
            SessionController,
            AnalyticsController,
            SearchController,
            AnswerController,
            FeedbackController,
            DeadLetterController,
            EventController,
            ChatCompletionsController,
        ],
        guards=[require_scope],
        middleware=[access_middleware(access)],
        security=API_KEY_SECURITY,
    )
    app = Litestar(
        route_handlers=[
            v1,
            HealthController,
            asyncapi_document,
            message_schema_document,
            PrometheusController,
        ],
        lifespan=[tracing_lifespan(settings), close_redis, lifespan, llm_lifespan(settings)],
        state=State({"access": access}),
        dependencies={"backends": Provide(provide_backends, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=JsonRequest,
        plugins=[PydanticInitPlugin(validate_strict=True), *tracing_plugins(settings)],
        before_send=[add_request_id_header, correct_options_allow, add_security_headers],
        middleware=[
            request_id_middleware,
            body_timeout_middleware(settings.body_read_timeout_s),
            metrics.middleware,
        ],
        cors_config=_cors(settings),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Lectern",
            version="0.1.0",
            description="Event-driven retrieval-augmented-generation backend.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=SECURITY_SCHEMES,
        ),
        debug=False,
    )
    document_problem_responses(app)
    use_pydantic_request_schemas(app)
    document_event_streams(app)
    return app


@asynccontextmanager
async def _running(backends: Backends, settings: GatewaySettings) -> AsyncIterator[None]:
    """Run the background event publisher and dependency monitor; flush on exit."""
    backends.start()
    monitor = asyncio.create_task(
        monitor_dependencies(backends, settings.dependency_probe_interval_s),
        name="lectern-dependency-monitor",
    )
    try:
        yield
    finally:
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor
        await backends.close()


def _cors(settings: GatewaySettings) -> CORSConfig | None:
    """CORS for the origins of ``CORS_ALLOW_ORIGINS`` (none: no CORS headers at all)."""
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["authorization", "x-api-key", "content-type", "x-request-id"],
        expose_headers=[
            "x-request-id",
            "x-session-id",
            "retry-after",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "ratelimit-policy",
        ],
        allow_credentials=False,
        max_age=600,
    )


def main_app() -> Litestar:
    """Build the app from the environment, with logging configured (for uvicorn)."""
    settings = GatewaySettings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)
