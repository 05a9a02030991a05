"""structlog configuration: JSON lines when not a terminal, readable lines on a TTY.

The correlation id is bound per HTTP request and per consumed message with
:func:`bind_correlation_id`, through ``structlog.contextvars``, so every log line of that
unit of work carries it. :func:`add_trace_id` adds the current OpenTelemetry span's
``trace_id`` (and ``span_id``) when there is one (tracing on, see :mod:`lectern.tracing`),
so a log line leads to its trace.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from opentelemetry import trace


def configure_logging(level: str = "INFO", json: bool | None = None) -> None:
    """Configure structlog and the standard library's root logger once per process.

    Args:
        level: minimum level name (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``).
        json: JSON lines when true, console lines when false; ``None`` picks JSON unless
            stderr is a terminal.
    """
    use_json = (not sys.stderr.isatty()) if json is None else json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiormq", "aio_pika", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def add_trace_id(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Structlog processor: add the current span's ``trace_id`` and ``span_id``.

    Hex strings as the W3C ``traceparent`` spells them (32 and 16 characters); nothing
    is added outside a valid span, so with tracing off the lines are unchanged.
    """
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", trace.format_trace_id(context.trace_id))
        event_dict.setdefault("span_id", trace.format_span_id(context.span_id))
    return event_dict


@contextmanager
def bind_correlation_id(correlation_id: str | None, **extra: Any) -> Iterator[None]:
    """Bind ``correlation_id`` (and ``extra``) to every log line inside the block."""
    with structlog.contextvars.bound_contextvars(correlation_id=correlation_id, **extra):
        yield


def get_logger(name: str) -> Any:
    """Return a structlog logger named ``name``."""
    return structlog.get_logger(name)
