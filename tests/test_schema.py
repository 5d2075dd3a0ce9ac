"""Contract 4: migrations match the models on both dialects; the monitoring query works."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from tortoise import connections

from herald.db.connection import (
    APP,
    SchemaNotReady,
    apply_migrations,
    close_database,
    migration_command,
    migrations_location,
    open_database,
    pending_migrations,
)
from herald.db.models import Message, ProcessRun, Project, RunStatus, SendJob, Target, empty_stats

BIG_CHAT = -1001234567890123


async def test_migration_chain_matches_models(db_url: str, tmp_path: Path) -> None:
    """aerich, diffing the models against the last migration, finds nothing to write."""
    location = tmp_path / "migrations"
    shutil.copytree(migrations_location(db_url), location)
    async with migration_command(db_url, location, offline=True) as command:
        written = await command.migrate("drift", no_input=True, offline=True)
    assert not written, f"models changed without a migration: {written}"
    assert sorted(p.name for p in (location / APP).glob("*.py")) == sorted(
        p.name for p in (migrations_location(db_url) / APP).glob("*.py")
    )


async def test_migrated_database_has_no_pending_migration(db_url: str) -> None:
    assert await pending_migrations(db_url) == []
    assert await apply_migrations(db_url) == []


@pytest.fixture
def empty_sqlite(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'empty.db'}"


async def test_unmigrated_database_is_refused(empty_sqlite: str) -> None:
    with pytest.raises(SchemaNotReady, match="run `herald migrate`"):
        await open_database(empty_sqlite)
    assert await apply_migrations(empty_sqlite)
    await open_database(empty_sqlite)
    await close_database()


async def test_monitoring_query_verbatim(pg_db: str) -> None:
    project = await Project.create(name="launch")
    old = await ProcessRun.create(project=project, stats=empty_stats(3))
    await ProcessRun.filter(id=old.id).update(created_at=old.created_at.replace(year=2020))
    latest = await ProcessRun.create(
        project=project,
        status=RunStatus.COMPLETED,
        stats={"total_jobs": 10, "completed_jobs": 8, "success_count": 7, "error_count": 1},
    )
    assert latest.id != old.id
    query = f"""SELECT p.id, p.name, p.status, pr.stats
FROM projects p JOIN process_runs pr ON pr.project_id = p.id
WHERE p.id = '{project.id}' ORDER BY pr.created_at DESC LIMIT 1;"""
    _, rows = await connections.get("default").execute_query(query)
    assert len(rows) == 1
    row = dict(rows[0])
    assert (row["name"], row["status"]) == ("launch", "stopped")
    stats = row["stats"]
    if isinstance(stats, str):
        import json

        stats = json.loads(stats)
    assert stats == {"total_jobs": 10, "completed_jobs": 8, "success_count": 7, "error_count": 1}


async def test_chat_ids_beyond_32_bits_round_trip(db: str) -> None:
    project = await Project.create(name="wide", schedule_chat_id=BIG_CHAT)
    await Target.create(project=project, chat=str(BIG_CHAT), position=0)
    msg = await Message.create(
        project=project,
        position=0,
        kind="text",
        origin_chat_id=BIG_CHAT,
        origin_message_id=2**40,
        content={"text": "hi"},
    )
    run = await ProcessRun.create(project=project, stats=empty_stats(1), chat_id=BIG_CHAT)
    await SendJob.create(
        run=run,
        chat=str(BIG_CHAT),
        target_no=0,
        message=msg,
        seq=0,
        sent_message_id=2**40 + 1,
        due_at=run.created_at,
    )
    assert (await Project.get(id=project.id)).schedule_chat_id == BIG_CHAT
    assert (await Target.get(project=project)).chat == str(BIG_CHAT)
    loaded = await Message.get(id=msg.id)
    assert (loaded.origin_chat_id, loaded.origin_message_id) == (BIG_CHAT, 2**40)
    assert (await ProcessRun.get(id=run.id)).chat_id == BIG_CHAT
    assert (await SendJob.get(run=run)).sent_message_id == 2**40 + 1
    assert isinstance(project.id, uuid.UUID)
    assert isinstance(run.id, uuid.UUID)
