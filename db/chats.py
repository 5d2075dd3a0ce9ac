"""Turning what an operator typed into a target: "@username" or a "-100…" chat id.

Pure functions, so the rules are tested with a table of cases. A rejection says
why with a `Rejection` code; `herald.bot.texts` words it for the operator.
"""

from __future__ import annotations

import re
from enum import StrEnum

#: Telegram usernames: 5-32 of a-z 0-9 _, starting with a letter, no trailing or
#: doubled underscore. They are case-insensitive, so they are stored lower-case and
#: "@News" and "@news" are the same target.
_USERNAME = re.compile(r"[a-z](?:[a-z0-9]|_(?!_)){3,30}[a-z0-9]")
#: Channel and supergroup ids are "-100" followed by the channel's own id.
_CHANNEL_ID = re.compile(r"-100\d{1,16}")
_LINK = re.compile(r"(?:https?://)?(?:www\.)?(?:t|telegram)\.me/(.*)", re.IGNORECASE)
_INT64_MIN = -(2**63)


class Rejection(StrEnum):
    #: Neither "@name", a t.me link nor a "-100…" id.
    NOT_A_CHAT = "not_a_chat"
    #: Looks like a username but breaks Telegram's rules.
    BAD_USERNAME = "bad_username"
    #: A negative id without the "-100" of channels and supergroups, or out of range.
    BAD_ID = "bad_id"
    #: t.me/+… or t.me/joinchat/…: an invite names no chat the bot can post to.
    INVITE_LINK = "invite_link"
    #: t.me/c/…: a link to a post in a private channel.
    PRIVATE_LINK = "private_link"


class BadChat(ValueError):
    """Not a target Herald can post to."""

    def __init__(self, raw: str, reason: Rejection) -> None:
        super().__init__(raw, reason)
        self.raw = raw
        self.reason = reason


def normalise_chat(raw: str) -> str:
    """ "@username" (lower-case) or "-100…"; BadChat says why not."""
    text = raw.strip()
    link = _LINK.fullmatch(text)
    if link:
        return _from_link(raw, link.group(1))
    if text.startswith("@"):
        return _username(raw, text[1:])
    if re.fullmatch(r"[-+]?\d+", text):
        if _CHANNEL_ID.fullmatch(text) and int(text) >= _INT64_MIN:
            return str(int(text))
        raise BadChat(raw, Rejection.BAD_ID)
    raise BadChat(raw, Rejection.NOT_A_CHAT)


def _from_link(raw: str, path: str) -> str:
    path = path.split("?", 1)[0].strip("/")
    parts = path.split("/")
    if parts[0].startswith("+") or parts[0].lower() == "joinchat":
        raise BadChat(raw, Rejection.INVITE_LINK)
    if parts[0].lower() == "c":
        raise BadChat(raw, Rejection.PRIVATE_LINK)
    if parts[0].lower() == "s" and len(parts) > 1:  # t.me/s/name: the channel's web preview
        parts = parts[1:]
    return _username(raw, parts[0])


def _username(raw: str, name: str) -> str:
    name = name.lower()
    if not _USERNAME.fullmatch(name):
        raise BadChat(raw, Rejection.BAD_USERNAME)
    return "@" + name
