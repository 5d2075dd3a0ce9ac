"""Simulated humans talking to the bot: messages and button presses that become updates.

Operator messages are stored in their chat like real ones, so the bot can ``copyMessage``
them exactly as Herald does with posts an operator composes in the private chat.
"""

from __future__ import annotations

import time
from typing import Any

from .markup import utf16_len
from .models import SentMessage
from .state import SandboxState
from .telegram import MEDIA_KINDS, user_json


class OperatorState(SandboxState):
    """Adds operator simulation (updates the bot polls) on top of the chat state."""

    def add_user(
        self, user_id: int, *, username: str | None = None, first_name: str | None = None
    ) -> int:
        """Register a user and their private chat, so the bot may message them first."""
        user = self._user(user_id, username, first_name)
        chat = self.resolve(user_id, create=True)
        assert chat is not None
        chat.info.first_name = user["first_name"]
        chat.info.username = user.get("username")
        self.notify()
        return user_id

    def operator_message(
        self,
        user_id: int,
        text: str | None = None,
        *,
        entities: list[dict[str, Any]] | None = None,
        photo: str | None = None,
        video: str | None = None,
        document: str | None = None,
        audio: str | None = None,
        animation: str | None = None,
        voice: str | None = None,
        sticker: str | None = None,
        caption: str | None = None,
        caption_entities: list[dict[str, Any]] | None = None,
        chat_id: int | None = None,
        username: str | None = None,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """Store a message from ``user_id`` and enqueue it as an Update; return the Message.

        Media are given as file_id strings (at most one kind). Text starting with "/" gets
        the bot_command entity Telegram would attach.
        """
        given = {"photo": photo, "video": video, "document": document, "audio": audio}
        given |= {"animation": animation, "voice": voice, "sticker": sticker}
        media = [(kind, fid) for kind, fid in given.items() if fid]
        if len(media) > 1:
            raise ValueError(f"one media kind per message, got {[k for k, _ in media]}")
        if not media and text is None:
            raise ValueError("operator_message needs text or a media file_id")
        assert all(kind in MEDIA_KINDS for kind, _ in media)
        self.add_user(user_id, username=username, first_name=first_name)
        chat = self.resolve(chat_id or user_id, create=True)
        assert chat is not None
        if text is not None and text.startswith("/"):
            entities = _with_command_entity(text, entities)
        chat.last_message_id += 1
        msg = SentMessage(
            chat.last_message_id,
            chat.info.id,
            "operator",
            int(time.time()),
            text=text if not media else None,
            entities=entities if not media else None,
            caption=caption if media else None,
            caption_entities=caption_entities if media else None,
            media=media[0][0] if media else None,
            file_id=media[0][1] if media else None,
            from_bot=False,
            sender_id=user_id,
        )
        chat.messages[msg.message_id] = msg
        payload = self.message_json(msg)
        self.updates.push("message", payload)
        self.notify()
        return payload

    def operator_callback(
        self, user_id: int, message_id: int, data: str, *, chat_id: int | None = None
    ) -> str:
        """Press an inline button under bot message ``message_id``; return the callback id."""
        chat = self.chat(chat_id or user_id)
        msg = chat.messages.get(message_id)
        if msg is None:
            raise KeyError(f"chat {chat.info.id} has no message {message_id}")
        callback_id = f"{user_id}{next(self._ids):08d}"
        payload = {
            "id": callback_id,
            "from": self._user(user_id, None, None),
            "message": self.message_json(msg),
            "chat_instance": str(abs(hash((chat.info.id, self.bot_id)))),
            "data": data,
        }
        self.callbacks[callback_id] = payload
        self.updates.push("callback_query", payload)
        self.notify()
        return callback_id

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates offset."""
        return self.updates.pending()

    def _user(self, user_id: int, username: str | None, first_name: str | None) -> dict:
        user = self.users.get(user_id)
        if user is None or username or first_name:
            previous = user or {}
            user = user_json(
                user_id,
                username or previous.get("username"),
                first_name or previous.get("first_name"),
            )
            self.users[user_id] = user
        return user


def _with_command_entity(text: str, entities: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    entities = list(entities or [])
    if any(e.get("type") == "bot_command" and e.get("offset") == 0 for e in entities):
        return entities
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}, *entities]
