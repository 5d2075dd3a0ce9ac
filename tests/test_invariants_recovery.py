"""Invariants 5 and 7: a daemon killed with SIGKILL, Postgres going away, the reconciler."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from apscheduler.events import EVENT_JOB_ADDED, EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobEvent
from tortoise import connections
from tortoise.backends.asyncpg.client import TransactionWrapper

from herald.db import transitions
from herald.db.models import JobStatus, ProcessRun, Project, RunStatus, SendJob
from herald.db.sql import conn, dialect
from herald.db.transitions import JobUpdate
from herald.sandbox import Sandbox
from tests.engine_kit import T0, claimed_run, final_jobs, make_project, running_engine, stats
from tests.pgcluster import PgCluster

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 20


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox() as sb:
        yield sb


async def daemon(
    db_url: str, api_url: str, log: Path, *project: str
) -> tuple[asyncio.subprocess.Process, str]:
    """`python -m tests.engine_daemon`, once it says it is ready; and the run it started."""
    env = {**os.environ, "HERALD_RATE_LIMIT": "100", "HERALD_TEST_WINDOW": str(WINDOW)}
    with log.open("a") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.engine_daemon",
            db_url,
            api_url,
            *project,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            cwd=ROOT,
            env=env,
        )
    assert proc.stdout is not None
    async with asyncio.timeout(20):
        line = (await proc.stdout.readline()).decode()
    if not line.startswith("ready"):
        await proc.wait()
        pytest.fail(f"daemon did not start: {await asyncio.to_thread(log.read_text)}")
    return proc, line.split()[1]


async def until(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    """Poll the database until `predicate()` holds."""
    async with asyncio.timeout(timeout):
        while not await predicate():  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.02)


async def test_killed_daemon_resumes_every_run(
    pg_db: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    chats = [f"@k{i}" for i in range(300)]
    for chat in chats:
        sandbox.add_channel(chat)
    await make_project("crash", chats, ["hello"])
    log = tmp_path / "daemon.log"
    first, started = await daemon(pg_db, sandbox.url, log, "crash")
    run_id = uuid.UUID(started)
    try:
        await until(lambda: _at_least(run_id, 150), timeout=20)
    finally:
        first.kill()  # SIGKILL: no drain, no goodbye
        await first.wait()
    in_flight = {j.chat for j in await SendJob.filter(run_id=run_id, status=JobStatus.QUEUED)}
    assert 0 < await final_jobs(run_id) < 300, "the crash must land mid-run"
    second, _ = await daemon(pg_db, sandbox.url, log)
    try:
        await until(lambda: _completed(run_id), timeout=30)
    finally:
        second.kill()
        await second.wait()
    jobs = await SendJob.filter(run_id=run_id)
    assert Counter(j.status for j in jobs) == {JobStatus.SUCCEEDED: 300}
    assert await stats(run_id) == {
        "total_jobs": 300,
        "completed_jobs": 300,
        "success_count": 300,
        "error_count": 0,
    }
    assert (await Project.get(name="crash")).status == "stopped"
    received = {chat: len(sandbox.received(chat)) for chat in chats}
    assert min(received.values()) == 1, "a job was lost"
    repeated = {chat for chat, n in received.items() if n > 1}
    assert max(received.values()) <= 2
    assert repeated <= in_flight, "only a send in flight at the crash may be repeated"
    assert len(repeated) <= WINDOW


async def _at_least(run_id: uuid.UUID, n: int) -> bool:
    return await final_jobs(run_id) >= n


async def _completed(run_id: uuid.UUID) -> bool:
    return (await ProcessRun.get(id=run_id)).status == RunStatus.COMPLETED


def needs_own_cluster(pg_cluster: PgCluster | None) -> PgCluster:
    if pg_cluster is None:
        pytest.skip("stopping Postgres needs the suite's own server")
    return pg_cluster


async def test_postgres_outage_mid_run_loses_nothing(
    pg_db: str, pg_cluster: PgCluster | None, sandbox: Sandbox
) -> None:
    cluster = needs_own_cluster(pg_cluster)
    chats = [f"@o{i}" for i in range(100)]
    for chat in chats:
        sandbox.add_channel(chat)
    await make_project("outage", chats, ["m0", "m1"])
    async with running_engine(sandbox, rate_limit=100, window=WINDOW) as h:
        run = await h.engine.start_run("outage", chat_id=1)
        await h.wait_final(run.id, 40)
        await asyncio.to_thread(cluster.stop)
        try:
            # The run must not end, nor the engine give up, while the database is away.
            with pytest.raises(TimeoutError):
                await sandbox.wait_for(lambda: h.finished, timeout=2.5)
            assert h.engine.healthy()
            assert h.engine._runs[run.id] == RunStatus.RUNNING
        finally:
            await asyncio.to_thread(cluster.start)
        assert (await Project.get(name="outage")).status == "running"
        event = await h.wait_finished(run.id, timeout=30)
    full = {"total_jobs": 200, "completed_jobs": 200, "success_count": 200, "error_count": 0}
    assert event.stats == await stats(run.id) == full
    jobs = await SendJob.filter(run_id=run.id)
    assert {(j.status, j.attempts) for j in jobs} == {(JobStatus.SUCCEEDED, 1)}
    for chat in chats:
        assert [m.text for m in sandbox.received(chat)] == ["m0", "m1"], chat
    assert (await Project.get(name="outage")).status == "stopped"


async def test_send_that_cannot_read_its_message_is_retried_not_failed(
    pg_db: str, pg_cluster: PgCluster | None, sandbox: Sandbox
) -> None:
    """The database goes away between claiming a job and sending it."""
    cluster = needs_own_cluster(pg_cluster)
    sandbox.add_channel("@one")
    await make_project("gone", ["@one"], ["hello"])
    outcome = asyncio.Event()
    async with running_engine(sandbox) as h:

        def stop_database(_event: JobEvent) -> None:
            cluster.stop()  # synchronously, before the send coroutine can run

        def seen(_event: JobEvent) -> None:
            outcome.set()

        h.engine.scheduler.add_listener(stop_database, EVENT_JOB_ADDED)
        h.engine.scheduler.add_listener(seen, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        try:
            run = await h.engine.start_run("gone", chat_id=1)
            async with asyncio.timeout(10):
                await outcome.wait()
            h.engine.scheduler.remove_listener(stop_database)
        finally:
            await asyncio.to_thread(cluster.start)
        event = await h.wait_finished(run.id, timeout=20)
    job = await SendJob.get(run_id=run.id)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1), job.last_error
    assert event.stats["success_count"] == 1
    assert len(sandbox.received("@one")) == 1


async def test_failed_begin_leaves_the_task_usable(
    pg_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a BEGIN on a connection that died in an outage poisoned the task.

    Tortoise set the task's current connection before BEGIN and never reset it, so
    the outcome consumer (one long-lived task) failed with "connection is closed"
    for ever once Postgres was back.
    """
    run_id, jobs = await claimed_run("poison", 2)
    real_begin = TransactionWrapper.begin
    failures = []

    async def begin_on_dead_connection(self: TransactionWrapper) -> None:
        if not failures:
            failures.append(self)
            self._connection._con.terminate()  # the server went away while it sat in the pool
            raise asyncpg.ConnectionDoesNotExistError("connection was closed")
        await real_begin(self)

    monkeypatch.setattr(TransactionWrapper, "begin", begin_on_dead_connection)
    done = JobUpdate(jobs[0], JobStatus.SUCCEEDED, 1)
    with pytest.raises(Exception, match="closed"):
        await transitions.record([done], T0)
    assert not isinstance(connections.get("default"), TransactionWrapper)
    await transitions.record([done, JobUpdate(jobs[1], JobStatus.SUCCEEDED, 1)], T0)
    assert (await stats(run_id))["completed_jobs"] == 2
    pool = connections.get("default")._pool
    assert pool.get_idle_size() == pool.get_size(), "the dead connection was never released"


# --- the reconciler (invariant 7) -------------------------------------------


async def corrupt(run_id: uuid.UUID, stats: str) -> None:
    d = dialect()
    await conn().execute_query(
        f"UPDATE process_runs SET stats = {d.stats_json(d.param(1))} WHERE id = {d.param(2)}",
        [stats, str(run_id)],
    )


async def test_reconcile_repairs_corrupted_stats_from_job_rows(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    run_id, jobs = await claimed_run("drift", 6)
    s = JobStatus
    await transitions.record(
        [
            JobUpdate(jobs[0], s.SUCCEEDED, 1),
            JobUpdate(jobs[1], s.SUCCEEDED, 1),
            JobUpdate(jobs[2], s.FAILED, 1),
            JobUpdate(jobs[3], s.RETRYING, 1, due_at=T0),
        ],
        T0,
    )
    truth = {"total_jobs": 6, "completed_jobs": 3, "success_count": 2, "error_count": 1}
    with caplog.at_level(logging.WARNING, logger="herald.db.transitions"):
        assert await transitions.reconcile(run_id, T0) is None
    assert "repaired" not in caplog.text, "stats that were right were rewritten"
    for bad in (
        '{"total_jobs": 6, "completed_jobs": 5, "success_count": 0, "error_count": 5}',
        '{"total_jobs": 6, "completed_jobs": 3, "success_count": 2, "error_count": 3}',
        '{"total_jobs": 9, "completed_jobs": 3, "success_count": 2, "error_count": 1}',
        "{}",
    ):
        await corrupt(run_id, bad)
        assert await transitions.reconcile(run_id, T0) is None
        run = await ProcessRun.get(id=run_id)
        assert dict(run.stats) == truth, bad
        assert run.status == RunStatus.RUNNING


async def test_reconcile_completes_a_run_whose_count_was_lost(db: str) -> None:
    run_id, jobs = await claimed_run("lost", 3)
    await transitions.record([JobUpdate(j, JobStatus.SUCCEEDED, 1) for j in jobs], T0)
    # As if the run had never been completed and its counters had been lost.
    await conn().execute_query(
        f"UPDATE process_runs SET status = 'running' WHERE id = {dialect().param(1)}",
        [str(run_id)],
    )
    await conn().execute_query("UPDATE projects SET status = 'running'")
    await corrupt(
        run_id, '{"total_jobs": 3, "completed_jobs": 0, "success_count": 0, "error_count": 0}'
    )
    done = await transitions.reconcile(run_id, T0)
    assert done is not None
    assert done.stats == {
        "total_jobs": 3,
        "completed_jobs": 3,
        "success_count": 3,
        "error_count": 0,
    }
    assert (await ProcessRun.get(id=run_id)).status == RunStatus.COMPLETED
    assert (await Project.get(name="lost")).status == "stopped"
    assert await transitions.reconcile(run_id, T0) is None
