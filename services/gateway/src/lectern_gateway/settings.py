"""Gateway settings, read once from the environment at start-up."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator

from lectern.settings import BaseServiceSettings

PLACEHOLDER_SECRETS = frozenset({"changeme", "changethis", "secret", "password", "apikey"})


class GatewaySettings(BaseServiceSettings):
    """Settings of the HTTP gateway.

    Attributes:
        gateway_host: interface to listen on (``GATEWAY_HOST``).
        gateway_port: TCP port (``GATEWAY_PORT``).
        api_keys: comma-separated keys that may write (``API_KEYS``); empty disables the
            check, for local use only.
        search_timeout_s: seconds a search may take end to end before ``504``.
        ping_timeout_s: seconds each service has to answer a readiness ping.
        read_timeout_s: seconds a session-logger read may take before ``504``.
        max_body_bytes: largest accepted request body (``MAX_BODY_BYTES``); larger is 413.
        max_document_bytes: largest document content in UTF-8 bytes; larger is 413.
        publish_timeout_s: seconds to wait for a broker publisher confirm.
        rate_limit_per_minute: requests per minute per API key (or client address) and
            gateway process (``RATE_LIMIT_PER_MINUTE``); over it answers ``429``.
        answer_score_timeout_s: seconds the indexer has to score an answer's sentences
            by meaning (``ANSWER_SCORE_TIMEOUT_S``); past it they are ranked lexically.
        llm_base_url: an OpenAI-compatible chat API (``LLM_BASE_URL``, e.g.
            ``http://127.0.0.1:11434/v1`` for Ollama); unset: extractive answers only.
        llm_model: the model name sent to it (``LLM_MODEL``).
        llm_api_key: its API key (``LLM_API_KEY``); local servers need none.
        llm_timeout_s: seconds an LLM answer may take (``LLM_TIMEOUT_S``); past it the
            extractive answer is returned instead.
    """

    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    api_keys: SecretStr = SecretStr("")
    search_timeout_s: float = Field(default=5.0, gt=0, le=120)
    ping_timeout_s: float = Field(default=1.0, gt=0, le=30)
    read_timeout_s: float = Field(default=5.0, gt=0, le=120)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_document_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    publish_timeout_s: float = Field(default=10.0, gt=0, le=120)
    rate_limit_per_minute: int = Field(default=1200, ge=1)
    answer_score_timeout_s: float = Field(default=3.0, gt=0, le=60)
    llm_base_url: AnyHttpUrl | None = None
    llm_model: str = Field(default="gpt-4o-mini", min_length=1, max_length=256)
    llm_api_key: SecretStr = SecretStr("")
    llm_timeout_s: float = Field(default=30.0, gt=0, le=600)

    @field_validator("api_keys")
    @classmethod
    def _refuse_placeholders(cls, value: SecretStr) -> SecretStr:
        for key in value.get_secret_value().split(","):
            if key.strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError("API_KEYS holds a placeholder secret; set real keys")
        return value

    @property
    def api_key_set(self) -> frozenset[str]:
        """The configured write keys (empty: no check)."""
        return frozenset(
            k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip()
        )
