"""Configuration (DESIGN.md contract 1), read once by the composition root.

Everything else receives a `Settings` object or plain values; nobody reads the
environment on their own. Validation errors are rendered as one line that names
the variable and never echoes the value, so the token cannot leak into a log.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{1,200}$")
_DB_SCHEMES = ("sqlite://", "postgres://", "postgresql://")


class ConfigError(Exception):
    """Configuration is invalid; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HERALD_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,
    )

    #: The bot's token; only `herald serve` needs it.
    bot_token: SecretStr | None = None
    #: Bot API base URL: Telegram, a self-hosted Bot API server, or a sandbox.
    telegram_api: str = "https://api.telegram.org"
    #: Tortoise URL: sqlite://path (embedded) or postgres://user:pass@host:port/db.
    database_url: str = "sqlite://herald.db"
    #: Telegram user ids allowed to operate the bot.
    admins: Annotated[frozenset[int], NoDecode] = frozenset()
    metrics_host: str = "127.0.0.1"
    #: 0 disables the metrics endpoint.
    metrics_port: int = Field(default=9120, ge=0, le=65535)
    max_attempts: int = Field(default=3, ge=1, le=100)
    #: Sends per second for the whole bot; 0 turns the limiter off.
    rate_limit: float = Field(default=25, ge=0)

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("must look like 123456:ABC-DEF… (digits, a colon, the secret)")
        return value

    @field_validator("telegram_api")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        if not value.startswith(_DB_SCHEMES):
            raise ValueError("must start with sqlite:// or postgres://")
        if value.startswith("postgresql://"):
            value = "postgres://" + value.removeprefix("postgresql://")
        return value

    @field_validator("admins", mode="before")
    @classmethod
    def _admins(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            if any(not re.fullmatch(r"-?\d+", p) for p in parts):
                raise ValueError("must be comma-separated numeric Telegram user ids")
            return frozenset(int(p) for p in parts)
        return value

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgres://")

    def token(self) -> str:
        """The token for the Bot client; `herald serve` refuses to start without one."""
        if self.bot_token is None:
            raise ConfigError("HERALD_BOT_TOKEN: required for `herald serve` (the bot's token)")
        return self.bot_token.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Read the environment (and ./.env) once, or raise ConfigError with one line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """First error as `HERALD_NAME: reason`, without the offending value."""
    err = exc.errors(include_input=False, include_url=False)[0]
    field = str(err["loc"][0]) if err["loc"] else "?"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"HERALD_{field.upper()}: {message}"
