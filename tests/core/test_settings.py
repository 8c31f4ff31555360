"""Settings: prefix, .env, defaults of API.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings

FILE_KEY = "from-file-" + "k" * 30


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
    env_file.write_text(
        f"COMMANDPOST_TOKEN_MINUTES=15\nCOMMANDPOST_REDIS_URL=\nCOMMANDPOST_SECRET_KEY={FILE_KEY}\n", encoding="utf-8"
    )
    monkeypatch.setenv("COMMANDPOST_REDIS_PREFIX", "other")
    monkeypatch.delenv("COMMANDPOST_TOKEN_MINUTES", raising=False)
    monkeypatch.delenv("COMMANDPOST_SECRET_KEY", raising=False)
    monkeypatch.delenv("COMMANDPOST_REDIS_URL", raising=False)
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert settings.token_minutes == 15
    assert settings.redis_url is None  # blank means not configured
    assert settings.redis_prefix == "other"
    assert settings.secret_key is not None and settings.secret_key.get_secret_value() == FILE_KEY
    assert FILE_KEY not in repr(settings)  # secrets stay out of logs


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMANDPOST_TOKEN_MINUTES", "0")
    with pytest.raises(ValueError, match="token_minutes"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("COMMANDPOST_TOKEN_MINUTES", "60")
    monkeypatch.setenv("COMMANDPOST_REDIS_PREFIX", "has space")
    with pytest.raises(ValueError, match="REDIS_PREFIX"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_sign_in_limits_default_to_the_issue(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.signin_max_failures_per_name, settings.signin_max_failures_per_address) == (10, 100)
    assert (settings.signin_window_seconds, settings.signin_lockout_seconds) == (300, 60)
    assert settings.trusted_proxies == []


def test_a_short_secret_key_is_refused_without_being_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMANDPOST_SECRET_KEY", "short-key-31-characters-long-xx")
    with pytest.raises(ValueError, match="SECRET_KEY must have at least 32 characters") as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "short-key" not in str(refused.value)
    monkeypatch.setenv("COMMANDPOST_SECRET_KEY", "x" * 32)
    assert Settings(_env_file=None).secret_key is not None  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10.0.0.1, 10.1.0.0/16", ["10.0.0.1", "10.1.0.0/16"]), ('["::1", "192.0.2.7"]', ["::1", "192.0.2.7"]), ("", [])],
)
def test_trusted_proxies_are_a_list_of_networks(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("COMMANDPOST_TRUSTED_PROXIES", value)
    assert Settings(_env_file=None).trusted_proxies == expected  # type: ignore[call-arg]


@pytest.mark.parametrize("value", ["*", "localhost", "10.0.0.0/33"])
def test_a_trusted_proxy_must_be_an_address_or_network(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("COMMANDPOST_TRUSTED_PROXIES", value)
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_the_acknowledgement_deadlines_default_to_the_issue_and_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMMANDPOST_ACK_DEADLINES", raising=False)
    assert Settings(_env_file=None).ack_deadlines == {"I": 30, "II": 60, "III": 90, "IV": 180}  # type: ignore[call-arg]
    monkeypatch.setenv("COMMANDPOST_ACK_DEADLINES", '{"I": 20, "II": 40, "III": 60.5, "IV": 120}')
    assert Settings(_env_file=None).ack_deadlines["III"] == 60.5  # type: ignore[call-arg]
    refused = {
        '{"I": 20, "II": 40, "IV": 120}': "missing: III",
        '{"I": 20, "II": 40, "III": 0, "IV": 120}': "grade III must be a number of seconds above 0",
        '{"I": -1, "II": 40, "III": 60, "IV": 120}': "grade I must be",
        '{"I": 20, "II": 40, "III": 60, "IV": "soon"}': "grade IV must be",
        '{"I": 20, "II": 40, "III": 60, "IV": 120, "V": 5}': "not a grade: V",
        "[30, 60, 90, 180]": "JSON object of seconds by grade",
        "thirty": "JSON object of seconds by grade",
    }
    for table, says in refused.items():
        monkeypatch.setenv("COMMANDPOST_ACK_DEADLINES", table)
        with pytest.raises(ValueError, match=says):
            Settings(_env_file=None)  # type: ignore[call-arg]
