"""Developer tool: write a new migration for each dialect after a model change.

    python -m herald.db.makemigrations NAME POSTGRES_URL

The Postgres chain needs a reachable server only for aerich's bookkeeping;
SQLite uses a throwaway file. Both chains must stay in step with the models
(tests/test_migrations.py checks it).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from aerich import Command

from herald.db.connection import (
    APP,
    close_database,
    migration_command,
    migrations_location,
    tortoise_config,
)


async def make(name: str, url: str) -> str | None:
    location = migrations_location(url)
    if not (location / APP).exists():
        command = Command(tortoise_config(url), app=APP, location=str(location))
        await command.init_migrations(safe=True)
        await close_database()
        return "initial"
    async with migration_command(url, offline=True) as command:
        return await command.migrate(name, no_input=True, offline=True)


def main() -> None:
    name, pg_url = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite://{Path(tmp) / 'make.db'}"
        for url in (pg_url, sqlite_url):
            print(url.split("://")[0], asyncio.run(make(name, url)))


if __name__ == "__main__":
    main()
