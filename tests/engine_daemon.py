"""A stand-in daemon for crash tests: the engine alone, against a Bot API sandbox.

    python -m tests.engine_daemon DB_URL SANDBOX_URL [PROJECT]

Opens the database, starts an `Engine` (which recovers every active run), starts
a run of PROJECT when one is named, prints `ready <run id or ->` and then runs
until it is killed. `herald serve` will replace it once the bot exists; until
then this is the smallest process that a test can `kill -9` mid-run (invariant 5).
Rate limit and window come from HERALD_RATE_LIMIT and HERALD_TEST_WINDOW.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from herald.db.connection import open_database
from herald.scheduler.engine import Engine

TOKEN = "123456789:sandbox-token"


async def serve(db_url: str, api_url: str, project: str | None) -> None:
    await open_database(db_url)
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api_url), timeout=5))
    window = os.environ.get("HERALD_TEST_WINDOW")
    engine = Engine(
        bot,
        rate_limit=float(os.environ.get("HERALD_RATE_LIMIT", "50")),
        retry_base=0.05,
        window=int(window) if window else None,
    )
    await engine.start()
    run_id = "-"
    if project:
        run_id = str((await engine.start_run(project, chat_id=None)).id)
    print(f"ready {run_id}", flush=True)
    await asyncio.Event().wait()  # until SIGKILL


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    db_url, api_url, *rest = argv
    asyncio.run(serve(db_url, api_url, rest[0] if rest else None))


if __name__ == "__main__":
    main(sys.argv[1:])
