"""What only the daemon process needs: token redaction, signals, metrics, systemd."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiogram.exceptions import TelegramAPIError, TelegramConflictError

from herald.config import Settings
from herald.db.connection import ping
from herald.sdnotify import Notifier, watchdog_interval, watchdog_loop

if TYPE_CHECKING:
    from herald.bot.app import App
    from herald.metrics.server import MetricsServer

log = logging.getLogger("herald")


class RedactToken(logging.Filter):
    """Replace the token in every log record (defence in depth: e.g. a URL in an error)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, "<token>")
        return True


def redact_logs(token: str) -> RedactToken:
    redact = RedactToken(token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
    return redact


def fatal_message(exc: TelegramAPIError) -> str:
    if isinstance(exc, TelegramConflictError):
        return (
            "another instance is polling with this bot token (409 Conflict):"
            " stop it, only one `herald serve` may run per bot"
        )
    return "the Bot API rejected HERALD_BOT_TOKEN (401 Unauthorized): check or renew the token"


async def start_metrics(settings: Settings, app: App) -> MetricsServer | None:
    if settings.metrics_port == 0:
        return None
    from herald.metrics.server import start_metrics_server

    async def health() -> dict[str, bool]:
        return {"bot": app.healthy(), "scheduler": app.engine.healthy(), "database": await ping()}

    return await start_metrics_server(settings.metrics_host, settings.metrics_port, health)


def start_watchdog(notifier: Notifier) -> asyncio.Task[None] | None:
    interval = watchdog_interval()
    if interval is None:
        return None
    return asyncio.create_task(watchdog_loop(notifier, interval), name="herald-watchdog")


@contextlib.contextmanager
def signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT start the graceful shutdown instead of killing the loop."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, _on_signal, stop, sig)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _on_signal(stop: asyncio.Event, sig: signal.Signals) -> None:
    log.info("Received %s: shutting down gracefully", sig.name)
    stop.set()
