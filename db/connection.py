"""Opening the database and keeping its schema in step with aerich migrations.

aerich writes SQL for one dialect, so each dialect has its own migration chain
(`db/migrations/postgres`, `db/migrations/sqlite`), generated from the same models.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aerich import Command
from tortoise import Tortoise, connections
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.exceptions import OperationalError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
APP = "models"


class SchemaNotReady(Exception):
    """The database is not migrated to this version of Herald: run `herald migrate`."""


def dialect(url: str) -> str:
    return "sqlite" if url.startswith("sqlite://") else "postgres"


def tortoise_config(url: str) -> dict[str, Any]:
    return {
        "connections": {"default": url},
        "apps": {
            APP: {
                "models": ["herald.db.models", "aerich.models"],
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def migrations_location(url: str) -> Path:
    return MIGRATIONS / dialect(url)


@asynccontextmanager
async def migration_command(
    url: str, location: Path | None = None, *, offline: bool = False
) -> AsyncIterator[Command]:
    """An initialised aerich Command on a fresh Tortoise connection.

    aerich only initialises Tortoise when it is not yet initialised, and closing
    its connections does not reset that flag; so initialise Tortoise here, for
    this URL, and close it afterwards.
    """
    config = tortoise_config(url)
    command = Command(config, app=APP, location=str(location or migrations_location(url)))
    await Tortoise.init(config=config)
    try:
        await command.init(offline=offline)
        yield command
    finally:
        await close_database()


async def apply_migrations(url: str) -> list[str]:
    """Apply every migration the database lacks; returns the applied file names."""
    async with migration_command(url) as command:
        applied = await command.upgrade(run_in_transaction=True)
    for name in applied:
        log.info("migration applied: %s", name)
    return applied


async def pending_migrations(url: str) -> list[str]:
    """Migration files not yet applied to the database (all of them on an empty one)."""
    async with migration_command(url) as command:
        try:
            return await command.heads()
        except OperationalError:  # no aerich table yet: nothing applied
            return sorted(p.name for p in (migrations_location(url) / APP).glob("*.py"))


async def open_database(url: str, *, require_migrated: bool = True) -> None:
    """Connect Tortoise; refuse an unmigrated or outdated schema (run `herald migrate`)."""
    if require_migrated:
        pending = await pending_migrations(url)
        if pending:
            raise SchemaNotReady(
                f"database schema is not up to date ({len(pending)} migration(s) pending,"
                f" first {pending[0]}): run `herald migrate`"
            )
    await Tortoise.init(config=tortoise_config(url))


async def close_database() -> None:
    await connections.close_all(discard=True)
    # Tortoise caches each model's INSERT/DELETE SQL per connection *name* for the life of
    # the process; without this, opening the other dialect next under the same name
    # ("default") reuses the old placeholders (SQLite's `?` sent to Postgres fails).
    EXECUTOR_CACHE.clear()


async def ping() -> bool:
    """One `SELECT 1`: the health check and the fail-fast check at start."""
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception:
        return False
    return True
