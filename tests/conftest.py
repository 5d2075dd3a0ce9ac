"""Shared fixtures: real PostgreSQL and SQLite databases, migrated by aerich.

Every test that touches the database gets a fresh one, cloned from a template
that the migration chain built once per session, so tests never share state.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from herald.db.connection import apply_migrations, close_database, open_database
from tests.pgcluster import PgCluster

TEMPLATE = "herald_template"
_counter = itertools.count()


async def _admin(server_url: str, *statements: str) -> None:
    conn = await asyncpg.connect(f"{server_url}/postgres")
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster | None]:
    """The suite's own PostgreSQL server, or None when HERALD_TEST_POSTGRES_URL names one."""
    if os.environ.get("HERALD_TEST_POSTGRES_URL"):
        yield None
        return
    try:
        cluster = PgCluster()
    except RuntimeError as exc:
        if os.environ.get("HERALD_TEST_REQUIRE_POSTGRES"):
            raise
        pytest.skip(str(exc))
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def pg_server(pg_cluster: PgCluster | None) -> str:
    """URL of the PostgreSQL server, without a database name."""
    if pg_cluster is None:
        return os.environ["HERALD_TEST_POSTGRES_URL"].rstrip("/")
    return pg_cluster.url


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> str:
    async def build() -> None:
        await _admin(
            pg_server, f"DROP DATABASE IF EXISTS {TEMPLATE}", f"CREATE DATABASE {TEMPLATE}"
        )
        await apply_migrations(f"{pg_server}/{TEMPLATE}")

    asyncio.run(build())
    return TEMPLATE


@pytest.fixture
def pg_url(pg_server: str, pg_template: str) -> Iterator[str]:
    """A fresh, migrated Postgres database for one test; dropped afterwards."""
    name = f"herald_t{os.getpid()}_{next(_counter)}"
    asyncio.run(_admin(pg_server, f"CREATE DATABASE {name} TEMPLATE {pg_template}"))
    yield f"{pg_server}/{name}"
    asyncio.run(_admin(pg_server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    asyncio.run(apply_migrations(f"sqlite://{path}"))
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh, migrated SQLite database file for one test."""
    path = tmp_path / "herald.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite://{path}"


@pytest.fixture(params=["postgres", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database of each dialect in turn."""
    return request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[str]:
    """Tortoise connected to a fresh database of each dialect."""
    await open_database(db_url)
    yield db_url
    await close_database()


@pytest.fixture
async def pg_db(pg_url: str) -> AsyncIterator[str]:
    """Tortoise connected to a fresh Postgres database."""
    await open_database(pg_url)
    yield pg_url
    await close_database()
