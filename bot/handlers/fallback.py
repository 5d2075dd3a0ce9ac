"""Commands nobody else handled: a short hint instead of silence."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import Message

from herald.bot import texts


async def cmd_unknown(message: Message, bot: Bot) -> None:
    word = (message.text or "/").split(maxsplit=1)[0][1:]
    command, _, mention = word.partition("@")
    me = await bot.me()
    if mention and me.username and mention.lower() != me.username.lower():
        return  # addressed to another bot in a group
    await message.answer(texts.unknown_command(command))


def build() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_unknown, F.text.startswith("/"))
    return router
