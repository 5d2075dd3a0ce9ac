"""/help and /start."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from herald.bot import texts


async def cmd_help(message: Message) -> None:
    await message.answer(texts.help_text())


def build() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_help, CommandStart())
    router.message.register(cmd_help, Command("help", ignore_case=True))
    return router
