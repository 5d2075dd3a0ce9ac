"""Cross-cutting concerns only: who may operate, the shared rate budget, update bookkeeping.

No business logic here: a refused update changes nothing; the rest is counting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramAPIError, TelegramConflictError, TelegramUnauthorizedError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject, Update, User

from herald.bot import texts
from herald.metrics import registry as metrics
from herald.scheduler.ratelimit import RateLimiter

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

#: (task, priority) of the code whose Bot API sends must pass the rate limiter. Tied to
#: the task so sends of tasks spawned from a handler (the engine's, via APScheduler,
#: which inherit the context) are not mistaken for operator replies.
_SENDER: ContextVar[tuple[asyncio.Task[Any] | None, bool] | None] = ContextVar(
    "herald_sender", default=None
)
#: Methods that post or edit messages: those count against Telegram's rate limits.
_SEND_PREFIXES = ("send", "copy", "edit", "forward")


@contextlib.contextmanager
def rate_limited(priority: bool) -> Iterator[None]:
    """Sends of the current task wait for the shared limiter (`priority`: operator replies)."""
    token = _SENDER.set((asyncio.current_task(), priority))
    try:
        yield
    finally:
        _SENDER.reset(token)


class RateLimitRequests(BaseRequestMiddleware):
    """Session middleware: operator-facing sends take a slot of the engine's budget first."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        sender = _SENDER.get()
        if (
            sender is not None
            and sender[0] is asyncio.current_task()
            and method.__api_method__.startswith(_SEND_PREFIXES)
        ):
            async with self.limiter.slot(priority=sender[1]):
                return await make_request(bot, method)
        return await make_request(bot, method)


class PollingGuard(BaseRequestMiddleware):
    """Watches getUpdates: a rejected token (401) or a second poller (409) is fatal.

    aiogram's polling loop retries every error for ever; these two never heal by
    waiting, so the daemon stops with one clear message instead.
    """

    def __init__(self, on_fatal: Callable[[TelegramAPIError], None]) -> None:
        self.on_fatal = on_fatal
        #: Whether the last getUpdates succeeded (the bot part of /healthz).
        self.ok = True

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if method.__api_method__ != "getUpdates":
            return await make_request(bot, method)
        try:
            response = await make_request(bot, method)
        except (TelegramUnauthorizedError, TelegramConflictError) as exc:
            self.ok = False
            self.on_fatal(exc)
            raise
        except Exception:
            self.ok = False
            raise
        self.ok = True
        return response


class UpdateTracker(BaseMiddleware):
    """Counts updates in flight (to drain them at shutdown) and the last one seen."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.handled = 0
        self.last_update_id: int | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Update):
            self.last_update_id = max(self.last_update_id or 0, event.update_id)
        self.in_flight += 1
        self._idle.clear()
        try:
            return await handler(event, data)
        finally:
            self.in_flight -= 1
            self.handled += 1
            if not self.in_flight:
                self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Wait for the updates being handled; False if some were still running."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return not self.in_flight


class Authorize(BaseMiddleware):
    """Only HERALD_ADMINS operate. Anyone else: one short refusal, logged and counted.

    A stranger gets at most one refusal message per `cooldown` seconds, so nobody
    can spend the bot's rate budget (and delay broadcasts) by spamming it; their
    button presses are always answered, or Telegram keeps the button spinning.
    """

    def __init__(
        self,
        admins: frozenset[int],
        cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.admins = admins
        self.cooldown = cooldown
        self._clock = clock
        self._refused_at: dict[int, float] = {}
        self.refused = 0

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is not None and user.id in self.admins:
            with rate_limited(priority=True):
                return await handler(event, data)
        self.refused += 1
        metrics.UNAUTHORIZED_UPDATES.inc()
        kind = event.event_type if isinstance(event, Update) else type(event).__name__
        log.warning(
            "Refused %s from user %s (@%s): not in HERALD_ADMINS",
            kind,
            user.id if user else None,
            user.username if user else None,
        )
        if isinstance(event, Update):
            with rate_limited(priority=False):
                await self._refuse(event, user)
        return None

    async def _refuse(self, update: Update, user: User | None) -> None:
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(texts.UNAUTHORIZED_BUTTON)
            elif update.message is not None and user is not None and self._may_answer(user.id):
                await update.message.answer(texts.UNAUTHORIZED)
        except TelegramAPIError as exc:  # a stranger who blocked the bot: nothing to do
            log.info("Refusal to user %s not delivered: %s", user.id if user else None, exc)

    def _may_answer(self, user_id: int) -> bool:
        now = self._clock()
        if len(self._refused_at) > 10_000:  # forget the oldest strangers; memory stays bounded
            self._refused_at = dict(sorted(self._refused_at.items(), key=lambda kv: kv[1])[-5000:])
        last = self._refused_at.get(user_id)
        if last is not None and now - last < self.cooldown:
            return False
        self._refused_at[user_id] = now
        return True
