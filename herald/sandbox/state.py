"""Everything the sandbox knows: chats, their behaviours, stored messages, updates, counters.

All per-request work is O(1) (dict lookups, a deque for the rate window) so the sandbox is
never the bottleneck when benchmarks push thousands of sends per second.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from . import models as m
from .models import ApiError, Behaviour, Call, SentMessage, Stats
from .params import parse_chat_ref
from .telegram import ChatInfo, bot_json, message_json, user_json
from .updates import UpdateQueue

FIRST_AUTO_CHANNEL_ID = -1001000000001
DEFAULT_BOT_ID = 1000000001


@dataclass
class ChatState:
    """One chat: identity, behaviour with its remaining failure budgets, and its messages."""

    info: ChatInfo
    behaviour: Behaviour = field(default_factory=Behaviour)
    flood_left: int = 0
    bad_gateway_left: int = 0
    fail_5xx_left: int = 0
    last_message_id: int = 0
    messages: dict[int, SentMessage] = field(default_factory=dict)
    delivered: list[SentMessage] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.set_behaviour(self.behaviour)

    def set_behaviour(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.flood_left = behaviour.flood
        self.bad_gateway_left = behaviour.bad_gateway_html
        self.fail_5xx_left = behaviour.fail_5xx

    def check(self, *, send: bool) -> None:
        """Raise the error this chat's behaviour dictates; ``send`` enables send-only failures."""
        b = self.behaviour
        if b.forbidden:
            raise ApiError(403, m.KICKED)
        if b.not_found:
            raise ApiError.bad_request(m.CHAT_NOT_FOUND)
        if b.migrate_to is not None:
            raise ApiError(400, m.MIGRATED, {"migrate_to_chat_id": b.migrate_to})
        if not send:
            return
        if b.no_rights:
            raise ApiError.bad_request(m.NO_RIGHTS)
        if self.flood_left > 0:
            self.flood_left -= 1
            raise ApiError.flood(b.retry_after)
        if self.bad_gateway_left > 0:
            self.bad_gateway_left -= 1
            raise ApiError(502, "Bad Gateway", html=True)
        if b.fail_5xx_always:
            raise ApiError(500, m.INTERNAL)
        if self.fail_5xx_left > 0:
            self.fail_5xx_left -= 1
            raise ApiError(500, m.INTERNAL)
        if b.too_long:
            raise ApiError.bad_request(m.TOO_LONG)


def _default_type(chat_id: int) -> str:
    if chat_id > 0:
        return "private"
    return "channel" if str(chat_id).startswith("-100") else "group"


class SandboxState:
    """Chats, behaviours and recordings; the HTTP layer and the Sandbox facade build on it."""

    def __init__(
        self,
        *,
        token: str | None = None,
        rate_limit: float | None = None,
        latency: float = 0.0,
        auto_channels: bool = False,
        bot_username: str = "herald_sandbox_bot",
    ) -> None:
        self.token = token  # None: accept any token
        self.rate_limit = rate_limit
        self.latency = latency
        self.auto_channels = auto_channels
        self.bot_username = bot_username
        self.bot_id = DEFAULT_BOT_ID
        if token and token.split(":")[0].isdigit():
            self.bot_id = int(token.split(":")[0])
        self._changed = asyncio.Event()
        self.updates = UpdateQueue()
        self._ids = count(1)
        self._defaults = (rate_limit, latency, auto_channels)
        self.reset()

    def reset(self) -> None:
        """Forget chats, messages, updates and counters; restore constructor options."""
        self.rate_limit, self.latency, self.auto_channels = self._defaults
        self.chats: dict[int, ChatState] = {}
        self._usernames: dict[str, int] = {}
        self._next_channel_id = FIRST_AUTO_CHANNEL_ID
        self.users: dict[int, dict[str, Any]] = {}
        self.stats = Stats()
        self.calls: list[Call] = []
        self.send_times: list[float] = []
        self._window: deque[float] = deque()
        self.updates.clear()
        self.callbacks: dict[str, dict[str, Any]] = {}
        self.answered_callbacks: dict[str, dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.internal_errors: list[str] = []  # sandbox bugs; tests should find this empty
        self.notify()

    def notify(self) -> None:
        """Wake ``wait_for`` callers; they re-check their predicate."""
        self._changed.set()

    # -- chats -------------------------------------------------------------------------------

    def add_channel(
        self,
        chat: int | str,
        behaviour: Behaviour | None = None,
        *,
        title: str | None = None,
        chat_type: str | None = None,
        admins: tuple[int, ...] | list[int] = (),
    ) -> int:
        """Register (or reconfigure) a chat and return its id.

        "@name" gets an auto-assigned -100... id; an int id gets a type from its shape
        (-100...: channel, other negative: group, positive: private).
        """
        behaviour = behaviour or Behaviour()
        state = self.resolve(chat, create=True)
        assert state is not None  # create=True always yields a chat
        state.set_behaviour(behaviour)
        if chat_type:
            state.info.type = chat_type
        elif behaviour.migrate_to is not None and not state.info.username:
            state.info.type = "group"  # only basic groups migrate
        if title:
            state.info.title = title
        state.info.admins.update(admins)
        if behaviour.migrate_to is not None:
            target = self.resolve(behaviour.migrate_to, create=True)
            assert target is not None
            target.info.type = "supergroup"
            target.info.title = target.info.title or state.info.title
        self.notify()
        return state.info.id

    def set_behaviour(self, chat: int | str, behaviour: Behaviour) -> None:
        """Change a known chat's behaviour (failure budgets restart)."""
        self.chat(chat).set_behaviour(behaviour)

    def resolve(self, ref: int | str, *, create: bool = False) -> ChatState | None:
        """Find a chat by id or "@username"; with ``create`` make it up like a real chat."""
        ref = parse_chat_ref(ref)
        if isinstance(ref, str):
            if not ref.startswith("@") or len(ref) < 2:
                return None
            name = ref[1:]
            chat_id = self._usernames.get(name.lower())
            if chat_id is not None:
                return self.chats[chat_id]
            if not create:
                return None
            chat_id = self._next_channel_id
            self._next_channel_id -= 1
            self._usernames[name.lower()] = chat_id
            info = ChatInfo(chat_id, "channel", title=name, username=name)
            state = self.chats[chat_id] = ChatState(info)
            return state
        found = self.chats.get(ref)
        if found is None and create:
            found = self.chats[ref] = ChatState(ChatInfo(ref, _default_type(ref)))
        return found

    def chat(self, ref: int | str) -> ChatState:
        """Like ``resolve`` but raise KeyError for unknown chats (test helper)."""
        state = self.resolve(ref)
        if state is None:
            raise KeyError(f"sandbox has no chat {ref!r}")
        return state

    def chat_id(self, ref: int | str) -> int:
        return self.chat(ref).info.id

    def received(self, chat: int | str) -> list[SentMessage]:
        """Bot messages delivered to ``chat``, in delivery order (deleted ones flagged)."""
        state = self.resolve(chat)
        return list(state.delivered) if state else []

    def log_chat(self, ref: Any) -> int | str | None:
        """The chat as written in the calls log: its id when known, else what was sent."""
        if ref is None or ref == "":
            return None
        state = self.resolve(ref)
        return state.info.id if state else parse_chat_ref(ref)

    # -- sending -----------------------------------------------------------------------------

    async def admit(self, ref: int | str, *, send: bool) -> ChatState:
        """Apply latency, the global rate limit and the chat's behaviour; return the chat."""
        state = self.resolve(ref, create=self.auto_channels)
        delay = self.latency + (state.behaviour.latency if state else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        if send and self.rate_limit is not None:
            self._check_rate()
        if state is None:
            raise ApiError.bad_request(m.CHAT_NOT_FOUND)
        state.check(send=send)
        return state

    def _check_rate(self) -> None:
        now = time.monotonic()
        window = self._window
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= (self.rate_limit or 0):
            raise ApiError.flood(1)
        window.append(now)

    def deliver(self, chat: ChatState, method: str, **content: Any) -> SentMessage:
        """Store a bot message as delivered to ``chat``."""
        chat.last_message_id += 1
        msg = SentMessage(chat.last_message_id, chat.info.id, method, int(time.time()), **content)
        chat.messages[msg.message_id] = msg
        chat.delivered.append(msg)
        self.stats.delivered += 1
        self.send_times.append(time.monotonic())
        self.notify()
        return msg

    def edit(self, msg: SentMessage, **changes: Any) -> None:
        msg.history.append(msg.revision())
        for key, value in changes.items():
            setattr(msg, key, value)
        msg.edit_date = int(time.time())
        self.notify()

    def message_json(self, msg: SentMessage) -> dict[str, Any]:
        chat = self.chats[msg.chat_id].info
        if msg.from_bot:
            sender = bot_json(self.bot_id, self.bot_username)
        else:
            sender = self.users.get(msg.sender_id or 0) or user_json(msg.sender_id or 0)
        return message_json(msg, chat, sender)

    def record_call(self, method: str, chat: int | str | None, error: ApiError | None) -> None:
        """Log a finished request and count failures by kind."""
        if error is not None:
            self.stats.errors[error.code] += 1
            if error.code == 429:
                self.stats.too_many_requests += 1
            elif error.code >= 500:
                self.stats.server_errors += 1
        if method != "getUpdates":  # long polls would drown the log
            self.calls.append(Call(method, chat, "ok" if error is None else str(error.code)))
        self.notify()

    def summary(self) -> dict[str, Any]:
        """Counters for the control API; benchmarks read throughput and rate compliance here."""
        per_chat = {}
        for state in self.chats.values():
            if state.delivered:
                key = f"@{state.info.username}" if state.info.username else str(state.info.id)
                per_chat[key] = len(state.delivered)
        times = self.send_times
        return {
            **self.stats.to_dict(),
            "delivered_per_chat": per_chat,
            "send_times": {
                "count": len(times),
                "first": times[0] if times else None,
                "last": times[-1] if times else None,
                "max_per_second": m.max_in_window(times),
            },
            "pending_updates": len(self.updates),
        }
