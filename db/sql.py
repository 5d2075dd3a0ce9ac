"""The few SQL fragments that differ between PostgreSQL and SQLite.

The transitions are plain SQL so each one is a single guarded statement; this
module is the only place that knows the two dialects apart.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

STAT_KEYS = ("total_jobs", "completed_jobs", "success_count", "error_count")


@dataclass(frozen=True)
class Dialect:
    postgres: bool

    def params(self, start: int, types: Sequence[str]) -> str:
        """Placeholders for one row of values, typed on Postgres (`$3::bigint`)."""
        if not self.postgres:
            return ", ".join(f"?{start + i}" for i in range(len(types)))
        return ", ".join(f"${start + i}::{t}" for i, t in enumerate(types))

    def param(self, n: int, type_: str = "") -> str:
        if not self.postgres:
            return f"?{n}"  # numbered, so one value can be used twice, as on Postgres
        return f"${n}::{type_}" if type_ else f"${n}"

    def stat(self, key: str) -> str:
        if self.postgres:
            return f"(stats->>'{key}')::bigint"
        return f"json_extract(stats, '$.{key}')"

    def stats_add(self, completed: str, success: str, error: str) -> str:
        """`stats` with the counters increased in SQL: no read-modify-write in Python."""
        fn = "jsonb_build_object" if self.postgres else "json_object"
        return (
            f"{fn}('total_jobs', {self.stat('total_jobs')},"
            f" 'completed_jobs', {self.stat('completed_jobs')} + {completed},"
            f" 'success_count', {self.stat('success_count')} + {success},"
            f" 'error_count', {self.stat('error_count')} + {error})"
        )

    def stats_json(self, param: str) -> str:
        return f"{param}::jsonb" if self.postgres else f"json({param})"

    @property
    def done(self) -> str:
        """The run's last job is final."""
        return f"{self.stat('completed_jobs')} >= {self.stat('total_jobs')}"

    @property
    def skip_locked(self) -> str:
        # Several replicas on one Postgres will claim disjoint jobs (DESIGN.md, beyond one machine).
        return " FOR UPDATE SKIP LOCKED" if self.postgres else ""


def sql_list(values: Iterable[str]) -> str:
    """`('a', 'b')` for IN clauses over our own status enums (never user input)."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def conn() -> BaseDBAsyncClient:
    return connections.get("default")


def dialect(client: BaseDBAsyncClient | None = None) -> Dialect:
    client = client or conn()
    return Dialect(postgres=client.capabilities.dialect == "postgres")


async def rows(client: BaseDBAsyncClient, sql: str, values: Sequence[Any] = ()) -> list[dict]:
    """Rows of a SELECT or of an `UPDATE … RETURNING`.

    Tortoise's `execute_query` on asyncpg discards the rows of any statement that
    starts with UPDATE, DELETE or INSERT, RETURNING or not; this one keeps them.
    """
    return await client.execute_query_dict(sql, list(values))


@contextlib.asynccontextmanager
async def transaction() -> AsyncIterator[BaseDBAsyncClient]:
    """`in_transaction()` that leaves the task usable when the connection dies.

    Tortoise 1.1 makes the new transaction the task's current connection before it
    sends BEGIN, and resets that only after returning the connection to the pool;
    when BEGIN fails, or the pool refuses a connection that died in a database
    outage, the reset never runs and every later query of the task goes to the
    dead connection. The outcome consumer is one long-lived task, so it would
    never record an outcome again (invariant 7). Here the reset always runs.
    """
    context = in_transaction()
    try:
        client = await context.__aenter__()
    except BaseException:
        await _exit(context, sys.exc_info(), quiet=True)
        raise
    try:
        yield client
    except BaseException:
        await _exit(context, sys.exc_info())
        raise
    await _exit(context, (None, None, None))


async def _exit(context: Any, exc_info: tuple[Any, Any, Any], quiet: bool = False) -> None:
    token = getattr(context, "token", None)
    if token is None:  # the task's connection was never replaced: nothing to undo
        return
    try:
        await context.__aexit__(*exc_info)
    except Exception:
        if not quiet:
            raise
    finally:
        if not token._used:  # the pool raised before Tortoise reset the task's connection
            connections.reset(token)
