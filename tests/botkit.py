"""Driving Herald as Telegram would: a sandbox Bot API, the real app wiring, an operator.

`Harness` starts the app exactly as `herald serve` wires it (`build_app`) against
a `Sandbox`, and `Operator` types into it and waits for the bot's answers with
`sandbox.wait_for` (no sleeps).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
from aiogram import Bot

from herald.bot.app import App, build_app
from herald.config import Settings
from herald.db.connection import close_database, open_database
from herald.sandbox import Sandbox, SentMessage

ADMIN = 4242
STRANGER = 666
TOKEN = "123456789:sandbox-token"


def settings_for(sandbox: Sandbox, db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bot_token": TOKEN,
        "telegram_api": sandbox.url,
        "database_url": db_url,
        "admins": frozenset({ADMIN}),
        "metrics_port": 0,
        "rate_limit": 0,
        "max_attempts": 3,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Running:
    app: App
    polling: asyncio.Task[None]


@asynccontextmanager
async def running_app(
    sandbox: Sandbox, bot: Bot, db_url: str, **overrides: Any
) -> AsyncIterator[App]:
    """`build_app` on `bot`, started and polling; closed (as serve closes it) on exit."""
    interval = overrides.pop("progress_interval", 0.2)
    app = build_app(
        settings_for(sandbox, db_url, **overrides),
        bot,
        progress_interval=interval,
        engine_options={"retry_base": 0.01, "reconcile_every": 1.0},
    )
    await app.start()
    app.start_polling()
    try:
        yield app
    finally:
        await app.close(drain_timeout=5.0)


class Operator:
    """A Telegram user typing to the bot in their private chat."""

    def __init__(self, sandbox: Sandbox, user_id: int = ADMIN) -> None:
        self.sandbox = sandbox
        self.user_id = user_id

    @property
    def inbox(self) -> list[SentMessage]:
        """Everything the bot posted in this user's chat, in order."""
        return self.sandbox.received(self.user_id)

    async def send(self, text: str | None = None, replies: int = 1, **kwargs: Any) -> list[str]:
        """Send a message; wait for `replies` new bot messages; return their texts."""
        before = len(self.inbox)
        self.sandbox.operator_message(self.user_id, text, **kwargs)
        await self.sandbox.wait_for(
            lambda: len(self.inbox) >= before + replies,
            timeout=10,
            description=f"{replies} repl(ies) to {text!r}",
        )
        return [m.text or m.caption or "" for m in self.inbox[before:]]

    async def ask(self, text: str, **kwargs: Any) -> str:
        """Send a command and return the bot's one reply."""
        (reply,) = await self.send(text, **kwargs)
        return reply

    async def settle(self) -> None:
        """Wait until the bot fetched and handled everything sent so far."""
        await self.sandbox.wait_for(
            lambda: not self.sandbox.pending_updates(), timeout=10, description="updates taken"
        )


class Harness:
    """A sandbox, a bot, the app (serve's wiring) polling, and an operator; restartable."""

    def __init__(self, sandbox: Sandbox, db_url: str, **overrides: Any) -> None:
        self.sandbox = sandbox
        self.db_url = db_url
        self.overrides = overrides
        self.op = Operator(sandbox)
        self.stranger = Operator(sandbox, STRANGER)
        self.bot = sandbox.bot()
        self.app: App | None = None
        self._running: Any = None

    async def start(self) -> App:
        self._running = running_app(self.sandbox, self.bot, self.db_url, **self.overrides)
        self.app = await self._running.__aenter__()
        return self.app

    async def stop(self) -> None:
        if self._running is not None:
            running, self._running = self._running, None
            await running.__aexit__(None, None, None)

    async def restart(self) -> App:
        """Stop the app as serve would, and build a new one on the same database."""
        await self.stop()
        return await self.start()

    async def settled(self) -> None:
        """Every update pushed so far was handled (for asserting that nothing was said)."""
        app = self.app
        assert app is not None
        last = self.sandbox.updates._last_id  # the id of the newest update pushed
        await self.sandbox.wait_for(
            lambda: app.tracker.last_update_id == last and app.tracker.in_flight == 0,
            timeout=10,
            description="every update handled",
        )

    async def close(self) -> None:
        await self.stop()
        await self.bot.session.close()


@asynccontextmanager
async def harness_on(db_url: str, **overrides: Any) -> AsyncIterator[Harness]:
    await open_database(db_url)
    try:
        async with Sandbox() as sandbox:
            harness = Harness(sandbox, db_url, **overrides)
            try:
                await harness.start()
                yield harness
            finally:
                await harness.close()
            assert sandbox.internal_errors == []
    finally:
        await close_database()


@pytest_asyncio.fixture(name="harness")
async def harness_fixture(sqlite_url: str) -> AsyncIterator[Harness]:
    """The app on a fresh SQLite database."""
    async with harness_on(sqlite_url) as harness:
        yield harness


@pytest_asyncio.fixture(name="harness_both")
async def harness_both_fixture(db_url: str) -> AsyncIterator[Harness]:
    """The app on a fresh database of each dialect in turn."""
    async with harness_on(db_url) as harness:
        yield harness
