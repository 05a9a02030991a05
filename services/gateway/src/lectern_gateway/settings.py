"""Gateway settings, read once from the environment at start-up."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Self

from pydantic import AnyHttpUrl, Field, RedisDsn, SecretStr, field_validator, model_validator

from lectern.settings import BaseServiceSettings

PLACEHOLDER_SECRETS = frozenset({"changeme", "changethis", "secret", "password", "apikey"})


class GatewaySettings(BaseServiceSettings):
    """Settings of the HTTP gateway.

    Attributes:
        gateway_host: interface to listen on (``GATEWAY_HOST``).
        gateway_port: TCP port (``GATEWAY_PORT``).
        api_keys: comma-separated full-access keys (``API_KEYS``; every scope, every
            collection), kept for compatibility; prefer ``API_KEYS_FILE``.
        search_timeout_s: seconds a search may take end to end before ``504``.
        ping_timeout_s: seconds each service has to answer a readiness ping.
        read_timeout_s: seconds a session-logger read may take before ``504``.
        body_read_timeout_s: seconds a client may stay silent while sending a request
            body (``BODY_READ_TIMEOUT_S``); then ``408`` and the connection is closed.
        max_body_bytes: largest accepted request body (``MAX_BODY_BYTES``); larger is 413.
        max_document_bytes: largest document content in UTF-8 bytes; larger is 413.
        publish_timeout_s: seconds to wait for a broker publisher confirm.
        rate_limit_per_minute: requests per minute per API key (or client address) and
            gateway process (``RATE_LIMIT_PER_MINUTE``); over it answers ``429``.
        event_buffer_size: events of searches and answers held in memory while the
            broker does not confirm them (``EVENT_BUFFER_SIZE``); beyond it new ones are
            dropped, counted and logged (:mod:`lectern_gateway.background_events`).
        event_retry_max_s: longest back-off in seconds between republish attempts.
        dependency_probe_interval_s: seconds between background probes of the
            dependencies, which keep the ``lectern_gateway_dependency_*`` gauges fresh.
        rate_limit_per_minute: requests per minute per validated key (or anonymous client
            address) when the key file sets no limit (``RATE_LIMIT_PER_MINUTE``); ``429``
            over it. Per gateway process unless ``REDIS_URL`` is set.
        api_keys_file: the key file (``API_KEYS_FILE``, TOML or JSON), reloaded on change.
        api_keys_reload_s: least seconds between two checks of the key file for changes.
        allow_anonymous: run without keys on a non-loopback address (``ALLOW_ANONYMOUS``).
        auth_failures_per_minute: requests without a valid key per client address per
            minute before they answer ``429`` instead of ``401``.
        max_concurrent_answers: answer requests in flight per key (or address) when the
            key file sets none.
        trusted_proxies: comma-separated CIDRs whose ``X-Forwarded-For`` is believed.
        redis_url: Redis for rate-limit counters shared by every replica (``REDIS_URL``).
        redis_prefix: prefix of the gateway's keys in Redis.
        cors_allow_origins: comma-separated origins allowed by CORS (none by default).
        answer_score_timeout_s: seconds the indexer has to score an answer's sentences
            by meaning (``ANSWER_SCORE_TIMEOUT_S``); past it they are ranked lexically.
        llm_base_url: an OpenAI-compatible chat API (``LLM_BASE_URL``, e.g.
            ``http://127.0.0.1:11434/v1`` for Ollama); unset: extractive answers only.
        llm_model: the model name sent to it (``LLM_MODEL``).
        llm_api_key: its API key (``LLM_API_KEY``); local servers need none.
        llm_timeout_s: seconds an LLM answer may take (``LLM_TIMEOUT_S``); past it the
            extractive answer is returned instead.
        agent_max_steps: tool rounds an agentic answer (``mode: "agent"``) may spend on
            the ``search`` tool before it must answer (``AGENT_MAX_STEPS``).
    """

    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    api_keys: SecretStr = SecretStr("")
    search_timeout_s: float = Field(default=5.0, gt=0, le=120)
    ping_timeout_s: float = Field(default=1.0, gt=0, le=30)
    read_timeout_s: float = Field(default=5.0, gt=0, le=120)
    body_read_timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_document_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    publish_timeout_s: float = Field(default=10.0, gt=0, le=120)
    rate_limit_per_minute: int = Field(default=1200, ge=1)
    event_buffer_size: int = Field(default=10_000, ge=1, le=1_000_000)
    event_retry_max_s: float = Field(default=30.0, gt=0, le=600)
    dependency_probe_interval_s: float = Field(default=15.0, gt=0, le=3600)
    api_keys_file: Path | None = None
    api_keys_reload_s: float = Field(default=2.0, ge=0, le=3600)
    allow_anonymous: bool = False
    auth_failures_per_minute: int = Field(default=30, ge=1)
    max_concurrent_answers: int = Field(default=8, ge=1)
    trusted_proxies: str = ""
    redis_url: RedisDsn | None = None
    redis_prefix: str = Field(default="lectern:gateway:", max_length=128)
    cors_allow_origins: str = ""
    answer_score_timeout_s: float = Field(default=3.0, gt=0, le=60)
    llm_base_url: AnyHttpUrl | None = None
    llm_model: str = Field(default="gpt-4o-mini", min_length=1, max_length=256)
    llm_api_key: SecretStr = SecretStr("")
    llm_timeout_s: float = Field(default=30.0, gt=0, le=600)
    agent_max_steps: int = Field(default=3, ge=0, le=10)

    @field_validator("api_keys")
    @classmethod
    def _refuse_placeholders(cls, value: SecretStr) -> SecretStr:
        for key in value.get_secret_value().split(","):
            if key.strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError("API_KEYS holds a placeholder secret; set real keys")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip())  # ValueError names the bad network
        return value

    @model_validator(mode="after")
    def _refuse_open_non_loopback(self) -> Self:
        keyless = self.api_keys_file is None and not self.api_key_set
        if keyless and not self.allow_anonymous and not _is_loopback(self.gateway_host):
            raise ValueError(
                f"GATEWAY_HOST={self.gateway_host} is not a loopback address and no key is "
                "configured (API_KEYS_FILE, API_KEYS): set a key file, or ALLOW_ANONYMOUS=true "
                "to serve every client without a key"
            )
        return self

    @property
    def cors_origins(self) -> list[str]:
        """The origins of ``CORS_ALLOW_ORIGINS`` (empty: no CORS)."""
        return [o.strip() for o in self.cors_allow_origins.split(",") if o.strip()]

    @property
    def api_key_set(self) -> frozenset[str]:
        """The configured write keys (empty: no check)."""
        return frozenset(
            k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip()
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
