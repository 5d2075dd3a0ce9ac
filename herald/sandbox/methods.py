"""Bot API method handlers: ``async (state, params) -> result`` or raise ApiError.

"Send-like" methods (sendMessage, copyMessage, send<Media>, editMessageText/Caption) pass the
global rate limit and every chat behaviour; other chat methods only see the behaviours that
make a chat unreachable (forbidden, not_found, migrate_to) plus latency.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from . import models as m
from .markup import apply_parse_mode, utf16_len
from .models import ApiError, SentMessage
from .operator import OperatorState
from .params import Params
from .state import ChatState
from .telegram import administrator_json, bot_json, chat_full_info, member_json, user_json

Handler = Callable[[OperatorState, Params], Awaitable[Any]]
METHODS: dict[str, tuple[str, Handler]] = {}  # lower-case name -> (canonical name, handler)
MEDIA_METHODS = {
    "sendPhoto": "photo",
    "sendVideo": "video",
    "sendDocument": "document",
    "sendAudio": "audio",
    "sendAnimation": "animation",
    "sendVoice": "voice",
    "sendSticker": "sticker",
}


def method(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler; Telegram matches method names case-insensitively."""

    def register(fn: Handler) -> Handler:
        for name in names:
            METHODS[name.lower()] = (name, fn)
        return fn

    return register


def _text(p: Params, key: str = "text") -> tuple[str, list[dict[str, Any]] | None]:
    text, entities = apply_parse_mode(
        p.get_str(key), p.get_json("entities"), p.get_str("parse_mode")
    )
    if not text or not text.strip():
        raise ApiError.bad_request(m.TEXT_EMPTY)
    if utf16_len(text) > m.MAX_TEXT:
        raise ApiError.bad_request(m.TOO_LONG)
    return text, entities


def _caption(p: Params) -> tuple[str | None, list[dict[str, Any]] | None]:
    caption, entities = apply_parse_mode(
        p.get_str("caption"), p.get_json("caption_entities"), p.get_str("parse_mode")
    )
    if caption is not None and utf16_len(caption) > m.MAX_CAPTION:
        raise ApiError.bad_request(m.CAPTION_TOO_LONG)
    return caption, entities


async def _send(sb: OperatorState, p: Params) -> ChatState:
    chat = await sb.admit(p.chat(), send=True)
    p.delay = chat.behaviour.timeout
    return chat


def _message(chat: ChatState, p: Params, error: str) -> SentMessage:
    msg = chat.messages.get(p.require_int("message_id"))
    if msg is None or msg.deleted:
        raise ApiError.bad_request(error)
    return msg


@method("getMe")
async def get_me(sb: OperatorState, p: Params) -> Any:
    return bot_json(sb.bot_id, sb.bot_username)


@method("deleteWebhook", "close", "logOut")
async def no_op(sb: OperatorState, p: Params) -> Any:
    return True


@method("getWebhookInfo")
async def get_webhook_info(sb: OperatorState, p: Params) -> Any:
    return {"url": "", "has_custom_certificate": False, "pending_update_count": len(sb.updates)}


@method("getUpdates")
async def get_updates(sb: OperatorState, p: Params) -> Any:
    limit = p.get_int("limit", 100) or 100
    return await sb.updates.poll(p.get_int("offset"), limit, p.get_float("timeout"))


@method("sendMessage")
async def send_message(sb: OperatorState, p: Params) -> Any:
    chat = await _send(sb, p)
    text, entities = _text(p)
    msg = sb.deliver(
        chat,
        "sendMessage",
        text=text,
        entities=entities,
        reply_markup=p.get_json("reply_markup"),
        parse_mode=p.get_str("parse_mode"),
    )
    return sb.message_json(msg)


def _media_handler(name: str, kind: str) -> Handler:
    """One handler per send<Media> method; they differ only in the media field's name."""

    async def send(sb: OperatorState, p: Params) -> Any:
        file_id = _file_id(sb, p, kind)
        chat = await _send(sb, p)
        caption, caption_entities = (None, None) if kind == "sticker" else _caption(p)
        msg = sb.deliver(
            chat,
            name,
            media=kind,
            file_id=file_id,
            caption=caption,
            caption_entities=caption_entities,
            reply_markup=p.get_json("reply_markup"),
            parse_mode=p.get_str("parse_mode"),
        )
        return sb.message_json(msg)

    return send


for _name, _kind in MEDIA_METHODS.items():
    METHODS[_name.lower()] = (_name, _media_handler(_name, _kind))


def _file_id(sb: OperatorState, p: Params, kind: str) -> str:
    """A file_id string, or a fresh id for an uploaded file (multipart attach://)."""
    value = p.raw(kind)
    if isinstance(value, str) and value.startswith("attach://"):
        value = p.raw(value.removeprefix("attach://"))
    if value is None or value == "":
        raise ApiError.bad_request(f"there is no {kind} in the request")
    if not isinstance(value, str):  # an uploaded file part
        return f"sandbox-upload-{kind}-{next(sb._ids)}"
    return value


@method("copyMessage")
async def copy_message(sb: OperatorState, p: Params) -> Any:
    source_chat = sb.resolve(p.chat("from_chat_id"))
    source = source_chat.messages.get(p.require_int("message_id")) if source_chat else None
    if source is None or source.deleted:
        raise ApiError.bad_request(m.COPY_NOT_FOUND)
    chat = await _send(sb, p)
    content: dict[str, Any] = {"text": source.text, "entities": source.entities}
    if source.media:
        caption, caption_entities = source.caption, source.caption_entities
        if "caption" in p:  # an explicit caption replaces the original one
            caption, caption_entities = _caption(p)
        content = {"media": source.media, "file_id": source.file_id, "caption": caption}
        content["caption_entities"] = caption_entities
    msg = sb.deliver(
        chat,
        "copyMessage",
        **content,
        reply_markup=p.get_json("reply_markup"),
        copied_from=(source.chat_id, source.message_id),
    )
    return {"message_id": msg.message_id}


@method("editMessageText")
async def edit_message_text(sb: OperatorState, p: Params) -> Any:
    if "inline_message_id" in p:
        raise ApiError.bad_request("inline messages are not supported by the sandbox")
    chat = await _send(sb, p)
    msg = _message(chat, p, m.EDIT_NOT_FOUND)
    if not msg.from_bot:
        raise ApiError.bad_request(m.CANT_EDIT)
    if msg.text is None:
        raise ApiError.bad_request(m.NO_TEXT_TO_EDIT)
    text, entities = _text(p)
    markup = p.get_json("reply_markup")
    if (text, entities or None, markup) == (msg.text, msg.entities or None, msg.reply_markup):
        raise ApiError.bad_request(m.NOT_MODIFIED)
    sb.edit(msg, text=text, entities=entities, reply_markup=markup)
    return sb.message_json(msg)


@method("editMessageCaption")
async def edit_message_caption(sb: OperatorState, p: Params) -> Any:
    chat = await _send(sb, p)
    msg = _message(chat, p, m.EDIT_NOT_FOUND)
    if not msg.from_bot or not msg.media:
        raise ApiError.bad_request(m.CANT_EDIT)
    caption, entities = _caption(p)
    markup = p.get_json("reply_markup")
    current = (msg.caption, msg.caption_entities or None, msg.reply_markup)
    if (caption, entities or None, markup) == current:
        raise ApiError.bad_request(m.NOT_MODIFIED)
    sb.edit(msg, caption=caption, caption_entities=entities, reply_markup=markup)
    return sb.message_json(msg)


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(sb: OperatorState, p: Params) -> Any:
    chat = await sb.admit(p.chat(), send=False)
    msg = _message(chat, p, m.EDIT_NOT_FOUND)
    if not msg.from_bot:
        raise ApiError.bad_request(m.CANT_EDIT)
    markup = p.get_json("reply_markup")
    if markup == msg.reply_markup:
        raise ApiError.bad_request(m.NOT_MODIFIED)
    sb.edit(msg, reply_markup=markup)
    return sb.message_json(msg)


@method("deleteMessage")
async def delete_message(sb: OperatorState, p: Params) -> Any:
    chat = await sb.admit(p.chat(), send=False)
    msg = _message(chat, p, m.DELETE_NOT_FOUND)
    msg.deleted = True
    sb.notify()
    return True


@method("answerCallbackQuery")
async def answer_callback_query(sb: OperatorState, p: Params) -> Any:
    callback_id = p.get_str("callback_query_id") or ""
    if callback_id not in sb.callbacks or callback_id in sb.answered_callbacks:
        raise ApiError.bad_request(m.BAD_CALLBACK)
    sb.answered_callbacks[callback_id] = {
        "text": p.get_str("text"),
        "show_alert": p.get_bool("show_alert"),
        "url": p.get_str("url"),
    }
    return True


@method("getChat")
async def get_chat(sb: OperatorState, p: Params) -> Any:
    chat = await sb.admit(p.chat(), send=False)
    return chat_full_info(chat.info)


@method("getChatMember")
async def get_chat_member(sb: OperatorState, p: Params) -> Any:
    chat = await sb.admit(p.chat(), send=False)
    user_id = p.require_int("user_id")
    if user_id == sb.bot_id:
        bot = bot_json(sb.bot_id, sb.bot_username)
        if chat.behaviour.no_rights or chat.info.type == "private":
            return member_json(bot)
        return administrator_json(bot)
    user = sb.users.get(user_id) or user_json(user_id)
    if user_id in chat.info.admins:
        return administrator_json(user)
    if chat.info.type == "private" and user_id == chat.info.id:
        return member_json(user)
    return member_json(user, "left")


def _commands_key(p: Params) -> tuple[str, str]:
    scope = p.get_json("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), p.get_str("language_code") or ""


@method("setMyCommands")
async def set_my_commands(sb: OperatorState, p: Params) -> Any:
    commands = p.get_json("commands")
    if not isinstance(commands, list):
        raise ApiError.bad_request("commands must be an array")
    for command in commands:
        if not isinstance(command, dict):
            raise ApiError.bad_request("BOT_COMMAND_INVALID")
        name = str(command.get("command", ""))
        valid = 0 < len(name) <= 32 and all(c.islower() or c.isdigit() or c == "_" for c in name)
        if not valid or not command.get("description"):
            raise ApiError.bad_request("BOT_COMMAND_INVALID")
    sb.commands[_commands_key(p)] = commands
    return True


@method("getMyCommands")
async def get_my_commands(sb: OperatorState, p: Params) -> Any:
    return sb.commands.get(_commands_key(p), [])


@method("deleteMyCommands")
async def delete_my_commands(sb: OperatorState, p: Params) -> Any:
    sb.commands.pop(_commands_key(p), None)
    return True
