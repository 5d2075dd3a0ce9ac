"""aiogram client pieces for talking to a sandbox (imported lazily: the server needs none)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer


class LoopbackSession(AiohttpSession):
    """AiohttpSession without the 250 ms sleep on close.

    aiogram waits for SSL connections to drain when closing; plain HTTP on loopback has none,
    and the sleep would add a quarter second to every test that builds a bot.
    """

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(url: str, token: str, timeout: float) -> Bot:
    session = LoopbackSession(api=TelegramAPIServer.from_base(url), timeout=timeout)
    return Bot(token, session=session)
