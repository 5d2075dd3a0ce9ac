"""Contract 1: configuration errors name the variable and never print the token."""

from __future__ import annotations

import pytest

from herald.config import ConfigError, load_settings

SECRET = "123456:THIS-IS-THE-SECRET-PART_abcdefghijkl"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No HERALD_* from the caller and no .env from the working directory."""
    import os

    for key in list(os.environ):
        if key.startswith("HERALD_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults_match_the_contract() -> None:
    s = load_settings()
    assert s.bot_token is None
    assert s.telegram_api == "https://api.telegram.org"
    assert s.database_url == "sqlite://herald.db"
    assert s.admins == frozenset()
    assert (s.metrics_host, s.metrics_port) == ("127.0.0.1", 9120)
    assert (s.max_attempts, s.rate_limit) == (3, 25)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HERALD_BOT_TOKEN", "not-a-token " + SECRET),
        ("HERALD_TELEGRAM_API", "ftp://example"),
        ("HERALD_DATABASE_URL", "mysql://x"),
        ("HERALD_ADMINS", "12,abc"),
        ("HERALD_METRICS_PORT", "70000"),
        ("HERALD_METRICS_PORT", "abc"),
        ("HERALD_MAX_ATTEMPTS", "0"),
        ("HERALD_RATE_LIMIT", "-1"),
        ("HERALD_RATE_LIMIT", "fast"),
    ],
)
def test_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("HERALD_BOT_TOKEN", SECRET)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    text = str(caught.value)
    assert text.startswith(f"{variable}: ")
    assert "\n" not in text
    assert "THIS-IS-THE-SECRET" not in text
    assert value not in text


def test_token_never_printed_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_BOT_TOKEN", SECRET)
    s = load_settings()
    assert "SECRET" not in repr(s)
    assert "SECRET" not in str(s.model_dump())
    assert s.token() == SECRET


def test_missing_token_is_one_clear_line() -> None:
    with pytest.raises(ConfigError, match=r"^HERALD_BOT_TOKEN: required"):
        load_settings().token()


def test_admins_and_env_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("HERALD_ADMINS=1, 22 ,333\nHERALD_RATE_LIMIT=0\n")
    s = load_settings()
    assert s.admins == {1, 22, 333}
    assert s.rate_limit == 0


def test_postgresql_scheme_is_accepted() -> None:
    s = load_settings(database_url="postgresql://u:p@h:5432/d")
    assert s.database_url == "postgres://u:p@h:5432/d"
    assert s.is_postgres
