"""The ``Sandbox`` facade: a state you can inspect plus the HTTP server that mutates it.

Tests run it in-process on the same event loop as the bot under test, so assertions can read
recorded messages directly and ``wait_for`` can react to changes without sleeping blindly.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .models import SentMessage
from .operator import OperatorState
from .server import build_app

if TYPE_CHECKING:
    from aiogram import Bot

DEFAULT_TOKEN = "123456789:sandbox-token"


class Sandbox(OperatorState):
    """A fake Telegram Bot API server on loopback; see the package docstring for usage."""

    def __init__(
        self,
        *,
        token: str | None = None,
        rate_limit: float | None = None,
        latency: float = 0.0,
        auto_channels: bool = False,
        bot_username: str = "herald_sandbox_bot",
    ) -> None:
        super().__init__(
            token=token,
            rate_limit=rate_limit,
            latency=latency,
            auto_channels=auto_channels,
            bot_username=bot_username,
        )
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        """Listen (port 0 picks a free one) and return once connections are accepted."""
        if self._runner is not None:
            raise RuntimeError("sandbox already started")
        self.updates.reopen()
        runner = web.AppRunner(
            build_app(self),
            access_log=None,  # logging every request would dominate benchmark CPU time
            handler_cancellation=True,  # a client that gave up frees its getUpdates slot
            shutdown_timeout=0.5,
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        self.url = f"http://{host}:{bound_port}"
        return self

    async def stop(self) -> None:
        """Stop serving; pending long polls are released instead of running to their timeout."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self.updates.wake_all()
        await runner.cleanup()

    async def __aenter__(self) -> Sandbox:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def bot(self, token: str | None = None, *, timeout: float = 10.0) -> Bot:
        """An aiogram Bot wired to this sandbox (close it with ``await bot.session.close()``)."""
        from .client import make_bot  # lazy: the standalone server never needs aiogram

        return make_bot(self.url, token or self.token or DEFAULT_TOKEN, timeout)

    async def wait_for(
        self,
        predicate: Callable[[], Any] | Callable[[Sandbox], Any],
        timeout: float = 5.0,
        *,
        description: str | None = None,
    ) -> None:
        """Wait until ``predicate()`` (or ``predicate(sandbox)``) is truthy.

        Re-checked on every state change and at least every 50 ms. LookupErrors count as
        "not yet" so ``lambda: sb.received(c)[2].text == "x"`` works. On timeout raises
        TimeoutError describing what the sandbox did see.
        """
        pass_self = _wants_argument(predicate)

        def check() -> Any:
            return predicate(self) if pass_self else predicate()  # type: ignore[call-arg]

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_error: Exception | None = None
        while True:
            self._changed.clear()
            try:
                if check():
                    return
            except LookupError as error:
                last_error = error
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    self._describe_timeout(predicate, timeout, description, last_error)
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))

    async def wait_received(
        self, chat: int | str, n: int, timeout: float = 5.0
    ) -> list[SentMessage]:
        """Wait until ``chat`` got at least ``n`` bot messages; return all received so far."""
        await self.wait_for(
            lambda: len(self.received(chat)) >= n,
            timeout,
            description=f"{n} message(s) in {chat!r}",
        )
        return self.received(chat)

    def _describe_timeout(
        self,
        predicate: Any,
        timeout: float,
        description: str | None,
        error: Exception | None,
    ) -> str:
        what = description or getattr(predicate, "__qualname__", repr(predicate))
        per_chat = self.summary()["delivered_per_chat"]
        parts = [
            f"sandbox condition not met within {timeout}s: {what}",
            f"delivered per chat: {per_chat or 'nothing'}",
            f"last calls: {self.calls[-8:]}",
            f"pending updates: {len(self.updates)}",
        ]
        if error is not None:
            parts.append(f"last lookup error: {error!r}")
        if self.internal_errors:
            parts.append(f"SANDBOX BUGS: {self.internal_errors}")
        return "; ".join(parts)


def _wants_argument(predicate: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(predicate).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(required) == 1
