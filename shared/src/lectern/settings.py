"""Settings base shared by every service (pydantic-settings, read from the environment).

Every service subclasses :class:`BaseServiceSettings` once and reads it once at start-up;
no other module reads ``os.environ``. Variable names are the upper-case field names
(``RABBITMQ_URL``, ``LOG_LEVEL``...), so every service and script agrees.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AmqpDsn, AnyHttpUrl, BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


def _empty_is_unset(value: object) -> object:
    """An empty variable (``OTEL_EXPORTER_OTLP_ENDPOINT=``, as compose passes it) is unset."""
    return None if value == "" else value


OptionalUrl = Annotated[AnyHttpUrl | None, BeforeValidator(_empty_is_unset)]


class BaseServiceSettings(BaseSettings):
    """Settings every Lectern service reads.

    Attributes:
        rabbitmq_url: AMQP URL of the broker (``RABBITMQ_URL``).
        log_level: minimum level logged (``LOG_LEVEL``).
        log_json: force JSON logs (``LOG_JSON``); by default JSON when stderr is not a TTY.
        otel_exporter_otlp_endpoint: base URL of an OTLP/HTTP receiver
            (``OTEL_EXPORTER_OTLP_ENDPOINT``, e.g. ``http://127.0.0.1:4318``; spans go to
            ``/v1/traces`` under it, as the OpenTelemetry specification says). Unset or
            empty: tracing is off, no exporter or span processor exists
            (:mod:`lectern.tracing`).
        otel_bsp_schedule_delay: milliseconds between two exports of finished spans
            (``OTEL_BSP_SCHEDULE_DELAY``, the specification's name and default, 5000).
        shutdown_grace_s: seconds a consumer may take to finish held messages on SIGTERM.
        lectern_failpoints: failpoints armed for fault tests (``LECTERN_FAILPOINTS``,
            see :mod:`lectern.failpoints`); empty in production.
        indexer_shards: shard queues of indexer commands (``INDEXER_SHARDS``, see
            :mod:`lectern.topology`); every service must use the same value.
    """

    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", validate_default=True
    )

    rabbitmq_url: AmqpDsn = Field(default=AmqpDsn("amqp://guest:guest@127.0.0.1:5672/"))
    log_level: LogLevel = "INFO"
    log_json: bool | None = None
    otel_exporter_otlp_endpoint: OptionalUrl = None
    otel_bsp_schedule_delay: int = Field(default=5000, ge=1, le=600_000)
    shutdown_grace_s: float = Field(default=20.0, gt=0, le=300)
    lectern_failpoints: str = ""
    indexer_shards: int = Field(default=4, ge=1, le=64)


class ConsumerServiceSettings(BaseServiceSettings):
    """Settings of a service without an HTTP API of its own (indexer, session-logger).

    Attributes:
        metrics_port: port of the Prometheus ``/metrics`` endpoint (``METRICS_PORT``);
            unset: no metrics port (the Procfile, ``.env.example`` and the deployment
            files set 9101 for the indexer and 9102 for the session-logger).
        metrics_host: address the metrics port binds (``METRICS_HOST``), all interfaces
            by default so a scraper on the pod network reaches it.
        queue_depth_interval_s: seconds between queue-depth samples
            (``QUEUE_DEPTH_INTERVAL_S``), taken only while the metrics port is on.
    """

    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "0.0.0.0"
    queue_depth_interval_s: float = Field(default=15.0, ge=0.1, le=3600)
