"""Builders for Telegram objects in wire format (plain dicts aiogram's models accept).

Kept in one place so the shapes track the Bot API version of the installed aiogram (e.g.
ChatFullInfo's required ``accepted_gift_types``, ChatMemberAdministrator's rights fields).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .models import SentMessage

MEDIA_KINDS = ("photo", "video", "document", "audio", "animation", "voice", "sticker")


@dataclass
class ChatInfo:
    """Identity of a chat as Telegram shows it inside messages."""

    id: int
    type: str  # "channel", "supergroup", "group" or "private"
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    admins: set[int] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            data["first_name"] = self.first_name or f"User {self.id}"
        else:
            data["title"] = self.title or self.username or f"Chat {self.id}"
        if self.username:
            data["username"] = self.username
        return data


def user_json(user_id: int, username: str | None = None, first_name: str | None = None) -> dict:
    data: dict[str, Any] = {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name or f"User {user_id}",
        "language_code": "en",
    }
    if username:
        data["username"] = username
    return data


def bot_json(bot_id: int, username: str) -> dict[str, Any]:
    return {
        "id": bot_id,
        "is_bot": True,
        "first_name": "Herald Sandbox",
        "username": username,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


def _unique_id(file_id: str) -> str:
    return "AQAD" + hashlib.blake2s(file_id.encode(), digest_size=8).hexdigest()


def media_json(kind: str, file_id: str) -> Any:
    """A plausible media object for ``kind``; the given file_id is the one the bot can reuse."""
    base = {"file_id": file_id, "file_unique_id": _unique_id(file_id), "file_size": 12345}
    if kind == "photo":
        thumb = {**base, "file_id": file_id + "_thumb", "width": 90, "height": 60}
        thumb["file_unique_id"] = _unique_id(thumb["file_id"])
        return [thumb, {**base, "width": 1280, "height": 853}]
    if kind in ("video", "animation"):
        return {**base, "width": 1280, "height": 720, "duration": 5}
    if kind in ("audio", "voice"):
        return {**base, "duration": 5}
    if kind == "sticker":
        return {
            **base,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
    return {**base, "file_name": "file.bin", "mime_type": "application/octet-stream"}


def message_json(msg: SentMessage, chat: ChatInfo, sender: dict[str, Any] | None) -> dict[str, Any]:
    """Serialise a stored message; ``sender`` is the bot or operator user (None: channel post)."""
    data: dict[str, Any] = {"message_id": msg.message_id, "date": msg.date, "chat": chat.to_json()}
    if sender is not None:
        data["from"] = sender
    if chat.type == "channel":
        data["sender_chat"] = data["chat"]
    if msg.text is not None:
        data["text"] = msg.text
        if msg.entities:
            data["entities"] = msg.entities
    if msg.media and msg.file_id:
        data[msg.media] = media_json(msg.media, msg.file_id)
    if msg.caption is not None:
        data["caption"] = msg.caption
        if msg.caption_entities:
            data["caption_entities"] = msg.caption_entities
    if msg.reply_markup:
        data["reply_markup"] = msg.reply_markup
    if msg.edit_date:
        data["edit_date"] = msg.edit_date
    return data


def chat_full_info(chat: ChatInfo) -> dict[str, Any]:
    """getChat result; aiogram 3.31 requires accent_color_id, max_reaction_count, gift types."""
    return {
        **chat.to_json(),
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    }


def administrator_json(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": "administrator",
        "user": user,
        "can_be_edited": False,
        "is_anonymous": False,
        "can_manage_chat": True,
        "can_delete_messages": True,
        "can_manage_video_chats": False,
        "can_restrict_members": False,
        "can_promote_members": False,
        "can_change_info": False,
        "can_invite_users": True,
        "can_post_stories": False,
        "can_edit_stories": False,
        "can_delete_stories": False,
        "can_send_welcome_messages": False,
        "can_post_messages": True,
        "can_edit_messages": True,
        "can_pin_messages": False,
    }


def member_json(user: dict[str, Any], status: str = "member") -> dict[str, Any]:
    data: dict[str, Any] = {"status": status, "user": user}
    if status == "kicked":
        data["until_date"] = 0
    return data
