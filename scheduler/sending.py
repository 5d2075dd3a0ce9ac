"""Putting one stored message into one chat, as faithfully as Telegram allows.

`copyMessage` from the operator's original keeps everything (spoilers, caption
position, voice captions) but needs the original to still exist; when it is
gone, the stored content is sent instead (DESIGN.md, known traps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from herald.db.models import Message

#: Bot API method per stored kind, and the name of its file parameter.
_MEDIA = {
    "photo": ("send_photo", "photo"),
    "video": ("send_video", "video"),
    "document": ("send_document", "document"),
    "audio": ("send_audio", "audio"),
    "animation": ("send_animation", "animation"),
    "voice": ("send_voice", "voice"),
    "sticker": ("send_sticker", "sticker"),
}
#: Content keys passed through to the send method when present.
_PASSTHROUGH = ("caption", "caption_entities", "has_spoiler", "show_caption_above_media")


@dataclass(frozen=True)
class StoredMessage:
    kind: str
    origin_chat_id: int | None
    origin_message_id: int | None
    content: dict[str, Any]

    @classmethod
    def of(cls, row: Message) -> StoredMessage:
        return cls(row.kind, row.origin_chat_id, row.origin_message_id, dict(row.content))


def chat_ref(chat: str) -> int | str:
    """A target as the Bot API wants it: a numeric id or "@username"."""
    return int(chat) if chat.lstrip("-").isdigit() else chat


def _origin_gone(exc: TelegramBadRequest) -> bool:
    text = exc.message.lower()
    return "message to copy not found" in text or "message not found" in text


async def deliver(
    bot: Bot, chat: int | str, message: StoredMessage, timeout: float | None = None
) -> int:
    """Send `message` to `chat`; returns the id of the message posted there."""
    if message.origin_chat_id is not None and message.origin_message_id is not None:
        try:
            copied = await bot.copy_message(
                chat_id=chat,
                from_chat_id=message.origin_chat_id,
                message_id=message.origin_message_id,
                request_timeout=timeout,
            )
            return copied.message_id
        except TelegramBadRequest as exc:
            if not _origin_gone(exc):
                raise
    return await send_content(bot, chat, message, timeout)


async def send_content(
    bot: Bot, chat: int | str, message: StoredMessage, timeout: float | None = None
) -> int:
    content = message.content
    if message.kind == "text":
        sent = await bot.send_message(
            chat_id=chat,
            text=content["text"],
            entities=content.get("entities"),
            request_timeout=timeout,
        )
        return sent.message_id
    if message.kind not in _MEDIA:
        raise ValueError(f"unknown message kind {message.kind!r}")
    method, file_param = _MEDIA[message.kind]
    extra = {k: content[k] for k in _PASSTHROUGH if content.get(k) is not None}
    if message.kind == "sticker":
        extra = {}
    sent = await getattr(bot, method)(
        chat_id=chat, **{file_param: content["file_id"]}, **extra, request_timeout=timeout
    )
    return sent.message_id
