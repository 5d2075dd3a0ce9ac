"""Plain data types of the sandbox: per-chat behaviours, recorded messages, counters, errors.

They live apart from the HTTP layer so tests and benchmarks can inspect them without caring
how requests arrived.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# Telegram's own description strings, so code matching on them behaves as in production.
KICKED = "Forbidden: bot was kicked from the channel chat"
CHAT_NOT_FOUND = "Bad Request: chat not found"
NO_RIGHTS = "Bad Request: not enough rights to send text messages to the chat"
TOO_LONG = "Bad Request: message is too long"
CAPTION_TOO_LONG = "Bad Request: message caption is too long"
TEXT_EMPTY = "Bad Request: message text is empty"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"
COPY_NOT_FOUND = "Bad Request: message to copy not found"
EDIT_NOT_FOUND = "Bad Request: message to edit not found"
DELETE_NOT_FOUND = "Bad Request: message to delete not found"
CANT_EDIT = "Bad Request: message can't be edited"
NO_TEXT_TO_EDIT = "Bad Request: there is no text in the message to edit"
BAD_CALLBACK = "Bad Request: query is too old and response timeout expired or query ID is invalid"
INTERNAL = "Internal Server Error"
BAD_GATEWAY_HTML = "<html>bad gateway</html>"
CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)

MAX_TEXT = 4096
MAX_CAPTION = 1024


class ApiError(Exception):
    """A Bot API failure; the server turns it into the matching HTTP error answer."""

    def __init__(
        self,
        code: int,
        description: str,
        parameters: dict[str, Any] | None = None,
        *,
        html: bool = False,
    ) -> None:
        super().__init__(f"{code} {description}")
        self.code = code
        self.description = description
        self.parameters = parameters
        self.html = html  # answer with an HTML page instead of JSON, like a broken proxy

    @classmethod
    def bad_request(cls, description: str) -> ApiError:
        if not description.startswith("Bad Request"):
            description = f"Bad Request: {description}"
        return cls(400, description)

    @classmethod
    def flood(cls, retry_after: int) -> ApiError:
        return cls(
            429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
        )


@dataclass(frozen=True)
class Behaviour:
    """How a chat reacts to sends. The default (all fields unset) is a healthy channel.

    Fields combine. Count-based failures are consumed in this order, one per send attempt:
    ``flood`` (429), ``bad_gateway_html`` (502 HTML), ``fail_5xx`` (500). Permanent conditions
    (``forbidden``, ``not_found``, ``no_rights``, ``migrate_to``, ``too_long``,
    ``fail_5xx_always``) apply to every send.
    """

    fail_5xx: int = 0
    fail_5xx_always: bool = False
    forbidden: bool = False
    not_found: bool = False
    no_rights: bool = False
    too_long: bool = False
    flood: int = 0
    retry_after: int = 1
    latency: float = 0.0
    timeout: float = 0.0
    bad_gateway_html: int = 0
    migrate_to: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Behaviour:
        """Build from control-API JSON; unknown keys are an error so typos don't pass silently."""
        data = dict(data or {})
        data.pop("ok", None)  # {"ok": true} reads naturally in configs; it is the default
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown behaviour option(s): {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Revision:
    """One earlier version of an edited message."""

    text: str | None
    entities: list[dict[str, Any]] | None
    caption: str | None
    caption_entities: list[dict[str, Any]] | None
    reply_markup: dict[str, Any] | None
    date: int


@dataclass
class SentMessage:
    """A message as stored by the sandbox: a bot delivery or an operator's message."""

    message_id: int
    chat_id: int
    method: str
    date: int
    text: str | None = None
    entities: list[dict[str, Any]] | None = None
    caption: str | None = None
    caption_entities: list[dict[str, Any]] | None = None
    media: str | None = None  # "photo", "video", "document", ... or None for text
    file_id: str | None = None
    reply_markup: dict[str, Any] | None = None
    copied_from: tuple[int, int] | None = None
    parse_mode: str | None = None
    from_bot: bool = True
    sender_id: int | None = None
    edit_date: int | None = None
    history: list[Revision] = field(default_factory=list)
    deleted: bool = False

    def revision(self) -> Revision:
        return Revision(
            self.text,
            self.entities,
            self.caption,
            self.caption_entities,
            self.reply_markup,
            self.edit_date or self.date,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Call(NamedTuple):
    """One API request as seen by the sandbox; ``outcome`` is "ok" or the HTTP error code."""

    method: str
    chat: int | str | None
    outcome: str


@dataclass
class Stats:
    """Counters kept cheap (O(1) per request) because benchmarks push thousands of requests/s."""

    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[int] = field(default_factory=Counter)
    too_many_requests: int = 0
    server_errors: int = 0
    delivered: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "errors": {str(k): v for k, v in self.errors.items()},
            "too_many_requests": self.too_many_requests,
            "server_errors": self.server_errors,
            "delivered": self.delivered,
        }


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """Largest number of timestamps inside any half-open interval of ``window`` seconds.

    ``times`` must be sorted (monotonic clock readings are). Two pointers: O(n).
    """
    best = 0
    start = 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
