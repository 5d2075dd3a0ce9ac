"""What of an operator's message is stored, so it can be reproduced when the original is gone.

The shape is the one `herald.scheduler.sending` sends from: text with its entities,
or a media file id with caption, caption entities and the flags that matter.
Entities are kept as Bot API JSON, offsets in UTF-16 code units.
"""

from __future__ import annotations

from typing import Any

from aiogram.enums import MessageEntityType
from aiogram.types import Message, MessageEntity

#: Checked in this order: Telegram sends a GIF as both `animation` and `document`.
MEDIA_KINDS = ("animation", "photo", "video", "document", "audio", "voice", "sticker")
#: Kinds whose media can be hidden under a spoiler and show the caption above.
_SPOILERS = ("animation", "photo", "video")


def _entities(entities: list[MessageEntity] | None) -> list[dict[str, Any]] | None:
    if not entities:
        return None
    return [e.model_dump(mode="json", exclude_none=True) for e in entities]


def content_of(message: Message) -> tuple[str, dict[str, Any]] | None:
    """(kind, content) of a message Herald can broadcast; None for anything else."""
    if message.text is not None:
        return "text", _clean({"text": message.text, "entities": _entities(message.entities)})
    for kind in MEDIA_KINDS:
        media = getattr(message, kind)
        if not media:
            continue
        file_id = media[-1].file_id if kind == "photo" else media.file_id  # largest size
        content: dict[str, Any] = {"file_id": file_id}
        if kind != "sticker":
            content["caption"] = message.caption
            content["caption_entities"] = _entities(message.caption_entities)
        if kind in _SPOILERS:
            content["has_spoiler"] = message.has_media_spoiler or None
            content["show_caption_above_media"] = message.show_caption_above_media or None
        return kind, _clean(content)
    return None


def kind_name(message: Message) -> str:
    """What an unsupported message is, for the refusal ("poll", "location", …)."""
    kind = message.content_type
    return str(getattr(kind, "value", kind)).replace("_", " ")


def inline_text(message: Message, text: str) -> dict[str, Any]:
    """Content for `/message NAME TEXT`: TEXT with the formatting it had inside the command.

    TEXT is the tail of the command's text; its entities are shifted by the UTF-16
    length of what precedes it, and the command's own entity is dropped.
    """
    full = message.text or ""
    head = _utf16(full[: len(full) - len(text)])
    length = _utf16(text)
    kept = []
    for entity in message.entities or []:
        if entity.type == MessageEntityType.BOT_COMMAND:
            continue
        start = max(entity.offset - head, 0)
        end = min(entity.offset + entity.length - head, length)
        if end > start:
            kept.append(entity.model_copy(update={"offset": start, "length": end - start}))
    return _clean({"text": text, "entities": _entities(kept)})


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _clean(content: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in content.items() if v is not None}
