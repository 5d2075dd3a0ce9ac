"""Refusals and failures: one clear reply for each, wherever the handler raised."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from herald.bot import texts
from herald.bot.args import Usage
from herald.bot.middlewares import rate_limited
from herald.errors import Refusal

log = logging.getLogger(__name__)


async def _reply(event: ErrorEvent, bot: Bot, text: str) -> None:
    update = event.update
    # The error handler runs outside the middleware that marks operator replies.
    with rate_limited(priority=True):
        if update.callback_query is not None:
            await update.callback_query.answer(texts.fit(text, 200), show_alert=True)
        elif update.message is not None:
            await bot.send_message(update.message.chat.id, text)


async def on_refusal(event: ErrorEvent, bot: Bot) -> None:
    assert isinstance(event.exception, Refusal)
    log.info("Refused: %s %r", type(event.exception).__name__, event.exception.project)
    await _reply(event, bot, texts.refusal(event.exception))


async def on_usage(event: ErrorEvent, bot: Bot) -> None:
    assert isinstance(event.exception, Usage)
    await _reply(event, bot, texts.usage(event.exception.command))


async def on_failure(event: ErrorEvent, bot: Bot) -> None:
    log.error("Update %d failed", event.update.update_id, exc_info=event.exception)
    try:
        await _reply(event, bot, texts.INTERNAL_ERROR)
    except Exception as exc:  # Telegram itself is failing: the log line above is all we have
        log.warning("Could not tell the operator about the failure: %s", exc)


def build() -> Router:
    router = Router(name=__name__)
    router.errors.register(on_refusal, ExceptionTypeFilter(Refusal))
    router.errors.register(on_usage, ExceptionTypeFilter(Usage))
    router.errors.register(on_failure)
    return router
