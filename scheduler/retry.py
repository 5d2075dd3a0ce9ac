"""What a failed attempt means: the one place that maps Telegram errors (invariant 8).

`decide` is pure: an exception and the attempt number in, a decision out, so
the whole policy is tested with a table of cases.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

import aiohttp
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

#: The reason given when a request may have reached Telegram but no answer came back.
DELIVERY_UNCERTAIN = "delivery uncertain"


class Action(StrEnum):
    #: Transient (network before sending, 5xx): try again after a backoff; an attempt.
    RETRY = "retry"
    #: Final failure now (permanent error, or the last attempt failed).
    FAIL = "fail"
    #: 429: wait `retry_after`, holding the whole bot; not an attempt.
    FLOOD = "flood"
    #: The group became a supergroup: send to the new id; not an attempt.
    MIGRATE = "migrate"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    delay: float = 0.0
    new_chat: int | None = None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    #: First backoff in seconds; doubles per attempt, capped, with jitter.
    base: float = 1.0
    cap: float = 60.0

    def backoff(self, attempt: int, rand: float | None = None) -> float:
        """Exponential backoff with "equal jitter": between half and all of the step."""
        step = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        r = random.random() if rand is None else rand
        return step / 2 + step / 2 * r

    def decide(self, exc: BaseException, attempt: int) -> Decision:
        """`attempt` is the number of this attempt, starting at 1."""
        if isinstance(exc, TelegramRetryAfter):
            return Decision(Action.FLOOD, "flood wait", delay=float(exc.retry_after))
        if isinstance(exc, TelegramMigrateToChat):
            return Decision(Action.MIGRATE, "chat migrated", new_chat=exc.migrate_to_chat_id)
        reason = describe(exc)
        if not _provably_unsent_transient(exc):
            return Decision(Action.FAIL, reason)
        if attempt >= self.max_attempts:
            return Decision(Action.FAIL, f"{reason} (after {attempt} attempts)")
        return Decision(Action.RETRY, reason, delay=self.backoff(attempt))


def _provably_unsent_transient(exc: BaseException) -> bool:
    """Errors worth another attempt: Telegram answered 5xx, or we never reached it.

    A timeout or a dropped connection after the request left may have posted the
    message, and Telegram has no idempotency key: resending could post it twice.
    """
    if isinstance(exc, TelegramServerError | ClientDecodeError):
        # ClientDecodeError: a proxy in front of the Bot API answered 5xx with HTML.
        return True
    if isinstance(exc, TelegramNetworkError):
        return isinstance(exc.__cause__, aiohttp.ClientConnectorError)
    return False


def describe(exc: BaseException) -> str:
    """A short reason for the job row and the completion notice."""
    if isinstance(exc, TelegramNetworkError):
        if isinstance(exc.__cause__, aiohttp.ClientConnectorError):
            return "network: cannot connect to the Bot API"
        return DELIVERY_UNCERTAIN
    if isinstance(exc, ClientDecodeError):
        return "bad gateway: the Bot API answered with a non-JSON body"
    if isinstance(exc, TelegramAPIError):
        return exc.message[:300]
    return f"{type(exc).__name__}: {exc}"[:300]
