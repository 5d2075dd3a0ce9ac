"""/preview: the project's messages, sent here exactly as its targets will get them."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from herald.bot import args, texts
from herald.db import queries
from herald.scheduler.sending import StoredMessage, deliver


async def cmd_preview(message: Message, command: CommandObject, bot: Bot) -> None:
    name = args.name_only(command)
    stored = await queries.messages_of(name)
    await message.answer(texts.preview_header(name, len(stored)))
    for row in stored:
        # The engine's own delivery: copyMessage from the origin, else the stored content.
        try:
            await deliver(bot, message.chat.id, StoredMessage.of(row))
        except TelegramBadRequest as exc:
            await message.answer(texts.preview_failed(row.position + 1, exc.message))


def build() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_preview, Command("preview", ignore_case=True))
    return router
