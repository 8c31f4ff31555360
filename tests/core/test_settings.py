"""Settings: prefix, .env, defaults of API.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "SECRET_KEY", "ADMIN_PASSWORD", "TOKEN_MINUTES"):
        monkeypatch.delenv(f"COMMANDPOST_{name}", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "postgresql+asyncpg://postgres@127.0.0.1:5432/commandpost"
    assert settings.redis_url is None
    assert settings.redis_prefix == "commandpost"
    assert settings.token_minutes == 60
    assert settings.secret_key is None


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("COMMANDPOST_TOKEN_MINUTES=15\nCOMMANDPOST_REDIS_URL=\nCOMMANDPOST_SECRET_KEY=from-file\n")
    monkeypatch.setenv("COMMANDPOST_REDIS_PREFIX", "other")
    monkeypatch.delenv("COMMANDPOST_TOKEN_MINUTES", raising=False)
    monkeypatch.delenv("COMMANDPOST_SECRET_KEY", raising=False)
    monkeypatch.delenv("COMMANDPOST_REDIS_URL", raising=False)
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert settings.token_minutes == 15
    assert settings.redis_url is None  # blank means not configured
    assert settings.redis_prefix == "other"
    assert settings.secret_key is not None and settings.secret_key.get_secret_value() == "from-file"
    assert "from-file" not in repr(settings)  # secrets stay out of logs


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMANDPOST_TOKEN_MINUTES", "0")
    with pytest.raises(ValueError, match="token_minutes"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("COMMANDPOST_TOKEN_MINUTES", "60")
    monkeypatch.setenv("COMMANDPOST_REDIS_PREFIX", "has space")
    with pytest.raises(ValueError, match="REDIS_PREFIX"):
        Settings(_env_file=None)  # type: ignore[call-arg]
