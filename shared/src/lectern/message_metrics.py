"""FastStream's Prometheus middleware, labelled by queue, for every consumer of a service.

:func:`rabbit_prometheus_middleware` is FastStream's ``RabbitPrometheusMiddleware`` with
the ``handler`` label set to the consumed queue's name (FastStream labels by
``<exchange>.<routing key>``, which for sharded commands names the route, not the
queue); :func:`consumer_metrics` fills the same families from a raw aio-pika consumer.
Everything lands in the default registry, served by :mod:`lectern.metrics_server`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faststream.prometheus.container import MetricsContainer
from faststream.prometheus.manager import MetricsManager
from faststream.prometheus.middleware import BasePrometheusMiddleware
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from faststream.rabbit.prometheus.provider import RabbitMetricsSettingsProvider
from prometheus_client import REGISTRY

if TYPE_CHECKING:
    from faststream.message import StreamMessage
    from faststream.prometheus import ConsumeAttrs


class _QueueProvider(RabbitMetricsSettingsProvider):
    """Labels consumed messages by the subscriber's queue name."""

    __slots__ = ("queue",)

    def __init__(self, queue: str | None) -> None:
        super().__init__()
        self.queue = queue

    def get_consume_attrs_from_message(self, msg: StreamMessage[Any]) -> ConsumeAttrs:
        attrs = super().get_consume_attrs_from_message(msg)
        if self.queue:
            attrs["destination_name"] = self.queue
        return attrs


class _QueuePrometheusMiddleware(RabbitPrometheusMiddleware):
    def __call__(self, msg: Any, /, *, context: Any) -> Any:
        handler = context.get_local("handler_")
        queue = getattr(getattr(handler, "queue", None), "name", None)
        return BasePrometheusMiddleware(
            msg,
            metrics_manager=self._metrics_manager,
            settings_provider_factory=lambda _: _QueueProvider(queue),
            context=context,
            custom_labels=dict(self._static_labels),
        )


def rabbit_prometheus_middleware(prefix: str) -> RabbitPrometheusMiddleware:
    """FastStream's Prometheus middleware on the default registry, labelled by queue.

    Families (``<prefix>_``): ``received_messages_total``,
    ``received_messages_size_bytes``, ``received_messages_in_process``,
    ``received_processed_messages_total`` (``status``: acked, nacked, rejected, skipped,
    error), ``received_processed_messages_duration_seconds`` (handler latency),
    ``received_processed_messages_exceptions_total``, ``published_messages_*``; the
    ``handler`` label is the queue name.

    Args:
        prefix: metric name prefix, e.g. ``lectern_indexer``.

    Returns:
        The middleware, for ``broker.add_middleware``.
    """
    return _QueuePrometheusMiddleware(registry=REGISTRY, app_name=prefix, metrics_prefix=prefix)


def consumer_metrics(prefix: str) -> MetricsManager:
    """The same families as :func:`rabbit_prometheus_middleware`, for a raw aio-pika consumer.

    Args:
        prefix: the service's metric prefix (the metrics are shared, not duplicated).

    Returns:
        FastStream's metrics manager (``add_received_message``,
        ``add_received_processed_message``, ``observe_received_processed_message_duration``).
    """
    # The container reuses the families already in the registry (by name).
    container = MetricsContainer(REGISTRY, metrics_prefix=prefix, custom_label_names=())
    return MetricsManager(container, app_name=prefix)
