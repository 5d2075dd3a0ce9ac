"""A fake Telegram Bot API server for tests, demos and benchmarks.

The real aiogram client talks to it over HTTP on loopback, so everything between Herald's
code and the wire (serialisation, error mapping, retries, timeouts) is exercised for real::

    async with Sandbox(rate_limit=30) as sandbox:
        channel = sandbox.add_channel("@news", Behaviour(flood=2, retry_after=1))
        bot = sandbox.bot()  # or Bot(token, session=AiohttpSession(api=
        #                          TelegramAPIServer.from_base(sandbox.url)))
        await bot.send_message("@news", "hello")   # raises TelegramRetryAfter (flood)
        sandbox.received("@news")                  # -> list[SentMessage]

Run standalone with ``python -m herald.sandbox --port 8081`` and configure it over
``POST /_control/channels``; see ``server.py``.
"""

from .models import Behaviour, Call, Revision, SentMessage, Stats
from .sandbox import Sandbox

__all__ = ["Behaviour", "Call", "Revision", "Sandbox", "SentMessage", "Stats"]
