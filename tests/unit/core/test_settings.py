from __future__ import annotations

import stat
from pathlib import Path

import pytest

from auterity.core.errors import SettingsError
from auterity.core.settings import Settings, load_settings


def test_defaults_are_the_embedded_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(_env_file=None)
    assert (
        settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path / 'var' / 'auterity.db'}"
    )
    assert settings.redis_url is None
    assert (settings.automatrix_port, settings.relaycore_port, settings.neuroweaver_port) == (
        8000,
        3001,
        3002,
    )
    assert settings.services == ["automatrix", "relaycore", "neuroweaver"]


def test_reads_prefixed_environment_and_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "AUTERITY_RELAYCORE_PORT=4001\nAUTERITY_CORS_ORIGINS=https://a.example, https://b.example\n"
    )
    monkeypatch.setenv("AUTERITY_LOG_LEVEL", "debug")
    settings = Settings()
    assert settings.relaycore_port == 4001
    assert settings.log_level == "debug"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_plain_postgres_url_gets_the_async_driver() -> None:
    settings = load_settings(database_url="postgresql://u@db:5432/x", _env_file=None)
    assert settings.resolved_database_url == "postgresql+asyncpg://u@db:5432/x"
    assert not settings.is_sqlite


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTERITY_AUTOMATRIX_PORT", "eighty")
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert "AUTERITY_AUTOMATRIX_PORT" in caught.value.detail
    assert "'eighty'" in caught.value.detail


def test_unknown_database_scheme_is_refused_without_echoing_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTERITY_DATABASE_URL", "mysql://root:hunter2@db/x")
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert "AUTERITY_DATABASE_URL" in caught.value.detail
    assert "hunter2" not in caught.value.detail


def test_secret_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = load_settings(data_dir=tmp_path, _env_file=None).ensure_secret_key()
    second = load_settings(data_dir=tmp_path, _env_file=None).ensure_secret_key()
    assert first.get_secret_value() == second.get_secret_value()
    assert len(first.get_secret_value()) >= 48
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600
    settings = load_settings(data_dir=tmp_path, _env_file=None)
    settings.ensure_secret_key()
    assert first.get_secret_value() not in repr(settings)


def test_given_secret_key_is_used_and_not_written(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, secret_key="given-key-value", _env_file=None)
    assert settings.ensure_secret_key().get_secret_value() == "given-key-value"
    assert not (tmp_path / "secret_key").exists()


def test_vault_backend_needs_its_address_and_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTERITY_SECRETS_BACKEND", "vault")
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    assert caught.value.detail == (
        "Invalid settings: AUTERITY_SECRETS_BACKEND=vault needs AUTERITY_VAULT_URL and "
        "AUTERITY_VAULT_TOKEN to be set"
    )

    monkeypatch.setenv("AUTERITY_VAULT_URL", "https://vault.internal:8200")
    monkeypatch.setenv("AUTERITY_VAULT_TOKEN", "hvs.do-not-print")
    settings = load_settings(_env_file=None)
    assert settings.vault_mount == "secret"
    assert "hvs.do-not-print" not in repr(settings)


def test_rate_limit_and_header_settings_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTERITY_RATE_LIMIT_PER_IP", "0")
    monkeypatch.setenv("AUTERITY_RATE_LIMIT_EXEMPT_PATHS", "/health, /metrics,/api/public")
    monkeypatch.setenv("AUTERITY_CLIENT_CERT_HEADER", " X-Client-Cert-SHA256 ")
    settings = load_settings(_env_file=None)
    assert settings.rate_limit_per_ip == 0 and settings.rate_limit_per_key == 1800
    assert settings.rate_limit_exempt_paths == ["/health", "/metrics", "/api/public"]
    assert settings.client_cert_header == "x-client-cert-sha256"
    monkeypatch.setenv("AUTERITY_RATE_LIMIT_PER_KEY", "-1")
    with pytest.raises(SettingsError, match="AUTERITY_RATE_LIMIT_PER_KEY"):
        load_settings(_env_file=None)
