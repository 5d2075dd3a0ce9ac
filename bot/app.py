"""The composition root: builds the long-lived objects and owns the order they stop in.

`build_app(settings, bot)` is the wiring `serve` uses (dispatcher, routers,
middlewares, engine, progress reporter); tests and the demo reuse it as is.
`serve(settings)` adds what only the daemon does: the fail-fast checks, the Bot
session, the metrics server, systemd notifications, signals and the exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.types import BotCommand

from herald.bot import texts
from herald.bot.daemon import (
    fatal_message,
    redact_logs,
    signals,
    start_metrics,
    start_watchdog,
)
from herald.bot.handlers import build_router
from herald.bot.middlewares import (
    Authorize,
    PollingGuard,
    RateLimitRequests,
    UpdateTracker,
)
from herald.bot.progress import ProgressReporter
from herald.config import Settings
from herald.db.connection import close_database, open_database, ping
from herald.scheduler.engine import Engine
from herald.sdnotify import Notifier

log = logging.getLogger("herald")

#: Long-poll wait of getUpdates, in seconds.
POLL_TIMEOUT = 10
#: How long a shutdown waits for updates being handled, then for sends in flight
#: (together well under systemd's TimeoutStopSec=30).
UPDATES_DRAIN = 5.0
SENDS_DRAIN = 15.0


@dataclass(frozen=True)
class Summary:
    """What a shutdown left behind, for the one summary log line."""

    handled: int
    refused: int
    updates_left: int
    edits: int
    notices: int


class App:
    """Dispatcher, engine and reporter wired together on one Bot; see `build_app`."""

    def __init__(
        self,
        settings: Settings,
        bot: Bot,
        *,
        progress_interval: float = 2.0,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.bot = bot
        self.reporter = ProgressReporter(bot, interval=progress_interval)
        self.engine = Engine(
            bot,
            max_attempts=settings.max_attempts,
            rate_limit=settings.rate_limit,
            on_run_finished=self.reporter.on_run_finished,
            **dict(engine_options or {}),
        )
        self.tracker = UpdateTracker()
        self.authorize = Authorize(settings.admins)
        self.guard = PollingGuard(self._on_fatal)
        self._limits = RateLimitRequests(self.engine.limiter)
        # Updates of one chat are handled one after another (a photo sent right after
        # /message must find the capture); different chats are handled concurrently.
        self.dispatcher = Dispatcher(
            events_isolation=SimpleEventIsolation(),
            engine=self.engine,
            reporter=self.reporter,
            settings=settings,
        )
        self.dispatcher.update.outer_middleware(self.tracker)
        self.dispatcher.update.outer_middleware(self.authorize)
        self.dispatcher.include_router(build_router())
        #: Set when polling hit an error that waiting cannot heal (401, 409).
        self.fatal = asyncio.Event()
        self.fatal_error: TelegramAPIError | None = None
        self._polling: asyncio.Task[None] | None = None

    def _on_fatal(self, exc: TelegramAPIError) -> None:
        if self.fatal_error is None:
            self.fatal_error = exc
        self.fatal.set()

    async def start(self) -> None:
        """Reporter, engine (recovering active runs), and the command menu."""
        self.bot.session.middleware(self._limits)
        self.bot.session.middleware(self.guard)
        await self.reporter.start()
        await self.engine.start()
        try:
            await self.bot.set_my_commands(
                [BotCommand(command=c, description=what) for c, _, what in texts.COMMANDS]
            )
        except TelegramAPIError as exc:  # a missing menu is no reason not to serve
            log.warning("setMyCommands failed: %s", exc)

    async def run_polling(self) -> None:
        """Poll until `close` (or `stop_polling`); aiogram retries network errors itself."""
        await self.dispatcher.start_polling(
            self.bot,
            polling_timeout=POLL_TIMEOUT,
            handle_signals=False,  # serve owns the signals and the shutdown order
            close_bot_session=False,
        )

    def start_polling(self) -> asyncio.Task[None]:
        self._polling = asyncio.create_task(self.run_polling(), name="herald-polling")
        return self._polling

    def healthy(self) -> bool:
        polling = self._polling is not None and not self._polling.done()
        return polling and self.guard.ok and self.fatal_error is None

    async def stop_polling(self) -> None:
        with contextlib.suppress(RuntimeError):  # not polling
            await self.dispatcher.stop_polling()
        if self._polling is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._polling

    async def close(self, drain_timeout: float = SENDS_DRAIN) -> Summary:
        """Stop taking updates, finish those being handled, drain sends, stop reporting."""
        await self.stop_polling()
        await self.tracker.drain(min(UPDATES_DRAIN, drain_timeout))
        await self._confirm_updates()
        await self.engine.close(drain_timeout=drain_timeout)
        await self.reporter.close()
        self.bot.session.middleware.unregister(self._limits)
        self.bot.session.middleware.unregister(self.guard)
        return Summary(
            self.tracker.handled,
            self.authorize.refused,
            self.tracker.in_flight,
            self.reporter.edits,
            self.reporter.notices,
        )

    async def _confirm_updates(self) -> None:
        """Tell Telegram the updates handled so far are done.

        aiogram confirms a batch only with the next getUpdates, so without this the
        last commands before a restart would be delivered, and executed, again.
        """
        last = self.tracker.last_update_id
        if last is None or self.fatal_error is not None:
            return
        try:
            await self.bot.get_updates(offset=last + 1, limit=1, timeout=0)
        except TelegramAPIError as exc:
            log.warning("Could not confirm the last updates: %s", exc)


def build_app(
    settings: Settings,
    bot: Bot,
    *,
    progress_interval: float = 2.0,
    engine_options: Mapping[str, Any] | None = None,
) -> App:
    """The wiring of `serve`, on a Bot the caller owns; the database must be open."""
    return App(settings, bot, progress_interval=progress_interval, engine_options=engine_options)


def make_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api))
    return Bot(settings.token(), session=session, default=DefaultBotProperties(parse_mode=None))


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> int:
    """The daemon; returns the exit code. `stop` (tests) stands in for SIGTERM."""
    redact = redact_logs(settings.token())
    started = time.monotonic()
    try:
        await open_database(settings.database_url)  # SchemaNotReady: `herald migrate` first
        if not await ping():
            log.error("database at HERALD_DATABASE_URL does not answer SELECT 1")
            return 1
        bot = make_bot(settings)
        try:
            return await _serve(settings, bot, stop or asyncio.Event(), started)
        finally:
            await bot.session.close()
    finally:
        await close_database()
        for handler in logging.getLogger().handlers:
            handler.removeFilter(redact)


async def _serve(settings: Settings, bot: Bot, stop: asyncio.Event, started: float) -> int:
    try:
        me = await bot.get_me()
    except TelegramUnauthorizedError as exc:
        log.error("Not starting: %s", fatal_message(exc))
        return 1
    except TelegramAPIError as exc:
        log.error("Not starting: the Bot API at %s fails: %s", settings.telegram_api, exc)
        return 1
    if not settings.admins:
        log.warning("HERALD_ADMINS is empty: nobody may operate this bot; every update is refused")
    app = build_app(settings, bot)
    await app.start()
    metrics = await start_metrics(settings, app)
    polling = app.start_polling()
    notifier = Notifier()
    watchdog = start_watchdog(notifier)
    with signals(stop):
        notifier.ready()
        notifier.status(f"polling as @{me.username}")
        log.info("Herald serving as @%s; %d admin(s)", me.username, len(settings.admins))
        waiters = [asyncio.ensure_future(e.wait()) for e in (stop, app.fatal)]
        await asyncio.wait([*waiters, polling], return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        notifier.stopping()
        if app.fatal_error is not None:
            log.error("Stopping: %s", fatal_message(app.fatal_error))
        summary = await app.close()
    if watchdog is not None:
        watchdog.cancel()
    if metrics is not None:
        await metrics.close()
    code = 1 if app.fatal_error is not None or (polling.done() and not stop.is_set()) else 0
    _log_summary(summary, time.monotonic() - started, code)
    return code


def _log_summary(summary: Summary, uptime: float, code: int) -> None:
    log.info(
        "Herald stopped after %s: %d update(s) handled (%d refused), %d progress edit(s),"
        " %d notice(s); %d update(s) unfinished; exit %d",
        texts.duration(uptime),
        summary.handled,
        summary.refused,
        summary.edits,
        summary.notices,
        summary.updates_left,
        code,
    )
