from __future__ import annotations

import pytest
from pydantic import ValidationError

from lectern_session_logger.__main__ import load_settings
from lectern_session_logger.migrations import dbmate_url, redact
from lectern_session_logger.settings import SessionLoggerSettings


def test_defaults(monkeypatch: pytest.MonkeyPatch):
    for name in ("DATABASE_URL", "RETENTION_DAYS", "BATCH_SIZE", "DB_STATEMENT_CACHE_SIZE"):
        monkeypatch.delenv(name, raising=False)
    settings = SessionLoggerSettings()
    assert settings.database_url == "postgresql://postgres@127.0.0.1:5432/lectern"
    assert settings.retention_days == 90
    assert (settings.batch_size, settings.batch_max_wait_ms) == (500, 50)
    assert settings.db_statement_cache_size == 100
    assert settings.prefetch_count >= settings.batch_size
    assert settings.migrations_dir.joinpath("20250101000000_create_event_log.sql").is_file()


@pytest.mark.parametrize("days", ["30", "90", "365"])
def test_retention_days_from_the_environment(monkeypatch: pytest.MonkeyPatch, days: str):
    monkeypatch.setenv("RETENTION_DAYS", days)
    assert SessionLoggerSettings().retention_days == int(days)


def test_other_retention_fails_at_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("RETENTION_DAYS", "45")
    with pytest.raises(SystemExit) as exited:
        load_settings()
    assert exited.value.code == 2
    assert "RETENTION_DAYS" in capsys.readouterr().err


def test_neon_settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(
        "DATABASE_URL", "postgresql://u:pw@ep-x-pooler.eu.aws.neon.tech/db?sslmode=require"
    )
    monkeypatch.setenv("DB_STATEMENT_CACHE_SIZE", "0")
    settings = SessionLoggerSettings()
    assert settings.sslmode == "require"
    assert settings.db_statement_cache_size == 0


@pytest.mark.parametrize("url", ["mysql://h/db", "postgresql://127.0.0.1:5432/", "not a url"])
def test_bad_database_url_is_refused(monkeypatch: pytest.MonkeyPatch, url: str):
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ValidationError, match="database_url"):
        SessionLoggerSettings()


def test_pool_bounds_are_checked(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DB_POOL_MIN", "5")
    monkeypatch.setenv("DB_POOL_MAX", "2")
    with pytest.raises(ValidationError, match="DB_POOL_MIN"):
        SessionLoggerSettings()


def test_dbmate_url_defaults_to_prefer_and_keeps_explicit_tls():
    assert dbmate_url("postgresql://h/db").endswith("?sslmode=prefer")
    assert dbmate_url("postgresql://h/db?sslmode=require") == "postgresql://h/db?sslmode=require"


def test_redact_hides_the_password():
    assert redact("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
