"""/message /clear /cancel, and capturing the message that follows a bare /message."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from herald.bot import args, content, texts
from herald.db import captures, projects


async def cmd_message(message: Message, command: CommandObject) -> None:
    name, text = args.name_and_rest(command)
    if not text:  # the next message this operator sends in this chat is the one
        user = message.from_user.id if message.from_user else 0
        project = await captures.start_capture(message.chat.id, user, name)
        await message.answer(texts.capture_started(project.name))
        return
    # Sent from content, not copied: a copy of the command would include "/message NAME".
    row = await projects.add_message(name, "text", None, None, content.inline_text(message, text))
    await message.answer(texts.captured(captures.Captured(name, row.position + 1, "text")))


async def cmd_clear(message: Message, command: CommandObject) -> None:
    name = args.name_only(command)
    count = await projects.clear_messages(name)
    await message.answer(texts.cleared(name, count))


async def cmd_cancel(message: Message, command: CommandObject) -> None:
    args.nothing(command)
    name = await captures.cancel_capture(message.chat.id)
    await message.answer(texts.capture_cancelled(name) if name else texts.NOTHING_TO_CANCEL)


async def msg_capture(message: Message) -> None:
    """Any other message: the one a pending /message waits for, or a hint."""
    user = message.from_user.id if message.from_user else 0
    stored = content.content_of(message)
    if stored is None:
        if await captures.pending_capture(message.chat.id, user):
            await message.answer(texts.not_capturable(content.kind_name(message)))
        elif message.chat.type == ChatType.PRIVATE:
            await message.answer(texts.NOT_CAPTURING)
        return
    kind, data = stored
    result = await captures.take_capture(
        message.chat.id, user, kind, message.chat.id, message.message_id, data
    )
    if result is not None:
        await message.answer(texts.captured(result))
    elif message.chat.type == ChatType.PRIVATE and message.media_group_id is None:
        await message.answer(texts.NOT_CAPTURING)


def build() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_message, Command("message", ignore_case=True))
    router.message.register(cmd_clear, Command("clear", ignore_case=True))
    router.message.register(cmd_cancel, Command("cancel", ignore_case=True))
    router.message.register(msg_capture, ~F.text.startswith("/"))
    return router
