"""Invariants 2, 3, 4, 6, 9 and 10, and the misfire trap, on the real engine and sandbox."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from apscheduler.events import (
    EVENT_JOB_ADDED,
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobEvent,
)
from prometheus_client import REGISTRY

from herald import errors
from herald.db import transitions
from herald.db.connection import close_database, open_database
from herald.db.models import JobStatus, Message, ProcessRun, Project, RunStatus, SendJob
from herald.db.sql import conn, dialect, rows
from herald.sandbox import Behaviour, Sandbox
from herald.scheduler.engine import Engine, utcnow
from tests.engine_kit import make_project, running_engine, stats


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> AsyncIterator[str]:
    await open_database(sqlite_url)
    yield sqlite_url
    await close_database()


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox() as sb:
        yield sb


async def snapshot(run_id: uuid.UUID) -> tuple[dict[str, int], Counter[str]]:
    """The run's stats and its jobs per status, read by one statement (one snapshot)."""
    d = dialect()
    stats_text = "pr.stats::text" if d.postgres else "pr.stats"
    found = await rows(
        conn(),
        f"SELECT {stats_text} AS stats, j.status, COUNT(j.id) AS n FROM process_runs pr"
        f" JOIN send_jobs j ON j.run_id = pr.id WHERE pr.id = {d.param(1, 'uuid')}"
        f" GROUP BY {stats_text}, j.status",
        [str(run_id)],
    )
    return json.loads(found[0]["stats"]), Counter({r["status"]: int(r["n"]) for r in found})


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def channels(sandbox: Sandbox, chats: list[str], **special: Behaviour) -> list[str]:
    for chat in chats:
        sandbox.add_channel(chat, special.get(chat.lstrip("@")))
    return chats


async def test_retried_job_is_not_counted_until_final(db: str, sandbox: Sandbox) -> None:
    chats = channels(sandbox, ["@ok1", "@ok2", "@flaky"], flaky=Behaviour(fail_5xx=2))
    await make_project("inv2", chats, ["hello"])
    seen_retrying = 0
    async with running_engine(sandbox, retry_base=0.3) as h:
        run = await h.engine.start_run("inv2", chat_id=1)
        async with asyncio.timeout(10):
            while not h.finished:  # sample the run until it ends
                run_stats, jobs = await snapshot(run.id)
                assert run_stats["success_count"] == jobs[JobStatus.SUCCEEDED]
                assert run_stats["completed_jobs"] == jobs[JobStatus.SUCCEEDED]
                if jobs[JobStatus.RETRYING]:
                    seen_retrying += 1
                    assert run_stats["completed_jobs"] <= 2
                await asyncio.sleep(0.01)
        event = await h.wait_finished(run.id)
    assert seen_retrying > 0, "never saw the job while it waited for its retry"
    assert event.stats == {
        "total_jobs": 3,
        "completed_jobs": 3,
        "success_count": 3,
        "error_count": 0,
    }
    flaky = await SendJob.get(run_id=run.id, chat="@flaky")
    assert (flaky.status, flaky.attempts) == (JobStatus.SUCCEEDED, 3)


async def test_auto_stop_happens_once_despite_duplicated_events(db: str, sandbox: Sandbox) -> None:
    chats = channels(sandbox, [f"@d{i}" for i in range(8)], d3=Behaviour(fail_5xx=1))
    await make_project("inv3", chats, ["a", "b"])
    completed_before = metric("herald_runs_finished_total", status="completed")
    sent_before = metric("herald_jobs_finished_total", outcome="success")
    async with running_engine(sandbox) as h:
        engine = h.engine
        # Every APScheduler event is delivered twice, and each one also asks the
        # consumer for a reconcile: duplicates race the last outcome.
        mask = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
        engine.scheduler.add_listener(engine._on_job_event, mask)
        run = await engine.start_run("inv3", chat_id=1)
        engine.scheduler.add_listener(lambda _e: engine.consumer.reconcile(run.id), mask)
        event = await h.wait_finished(run.id)
        for _ in range(3):
            engine.consumer.reconcile(run.id)
        await engine.consumer.flush()
        assert await transitions.reconcile(run.id, utcnow()) is None
    assert [e.run_id for e in h.finished] == [run.id]
    assert event.status == RunStatus.COMPLETED
    full = {"total_jobs": 16, "completed_jobs": 16, "success_count": 16, "error_count": 0}
    assert event.stats == await stats(run.id) == full
    row = await ProcessRun.get(id=run.id)
    assert row.status == RunStatus.COMPLETED
    assert row.finished_at is not None
    assert (await Project.get(name="inv3")).status == "stopped"
    assert metric("herald_runs_finished_total", status="completed") == completed_before + 1
    assert metric("herald_jobs_finished_total", outcome="success") == sent_before + 16
    # The bot posts the one completion notice through this guard.
    claims = await asyncio.gather(*(transitions.claim_notice(run.id, utcnow()) for _ in range(5)))
    assert sorted(claims) == [False] * 4 + [True]


async def test_stop_counts_the_send_in_flight_and_sends_nothing_after(
    db: str, sandbox: Sandbox
) -> None:
    names = ["@slow", *(f"@f{i}" for i in range(9))]
    chats = channels(sandbox, names, slow=Behaviour(latency=0.5))
    await make_project("inv4", chats, ["m0", "m1"])
    async with running_engine(sandbox, rate_limit=10) as h:
        run = await h.engine.start_run("inv4", chat_id=1)
        slow = await SendJob.get(run_id=run.id, chat="@slow", seq=0)
        await sandbox.wait_for(lambda: slow.id in h.engine._in_flight, timeout=5)
        await h.engine.stop_run("inv4")
        in_flight = {h.engine._claimed[j].chat for j in h.engine._in_flight}
        calls_at_stop = len(sandbox.calls)
        requests_at_stop = sandbox.stats.requests["sendMessage"]
        assert sandbox.received("@slow") == []  # still on its way
        event = await h.wait_finished(run.id)
        # Nothing starts after the stop: wait a while for a request that must not come.
        with pytest.raises(TimeoutError):
            await sandbox.wait_for(
                lambda: sandbox.stats.requests["sendMessage"] > requests_at_stop + len(in_flight),
                timeout=0.6,
            )
    assert "@slow" in in_flight
    after = {c.chat for c in sandbox.calls[calls_at_stop:]}
    assert after <= {sandbox.chat_id(c) for c in in_flight}
    jobs = {(j.chat, j.seq): j for j in await SendJob.filter(run_id=run.id)}
    assert jobs["@slow", 0].status == JobStatus.SUCCEEDED
    assert jobs["@slow", 1].status == JobStatus.CANCELLED
    assert [m.text for m in sandbox.received("@slow")] == ["m0"]
    by_status = Counter(j.status for j in jobs.values())
    final = await stats(run.id)
    assert event.status == RunStatus.STOPPED
    assert event.stats == final  # the stop's notice comes after the in-flight send counted
    assert final["success_count"] == by_status[JobStatus.SUCCEEDED] == sandbox.stats.delivered
    assert final["completed_jobs"] == by_status[JobStatus.SUCCEEDED] + by_status[JobStatus.FAILED]
    assert by_status[JobStatus.CANCELLED] == 20 - final["completed_jobs"]
    for (chat, seq), job in jobs.items():
        sent = f"m{seq}" in [m.text for m in sandbox.received(chat)]
        assert sent == (job.status == JobStatus.SUCCEEDED), (chat, seq, job.status)
    assert (await ProcessRun.get(id=run.id)).status == RunStatus.STOPPED
    assert (await Project.get(name="inv4")).status == "stopped"


async def test_run_of_a_project_whose_messages_were_cleared_is_refused(
    db: str, sandbox: Sandbox
) -> None:
    chats = channels(sandbox, ["@e1"])
    project = await make_project("inv6", chats, ["hello"])
    async with running_engine(sandbox) as h:
        first = await h.engine.start_run("inv6", chat_id=1)
        await h.wait_finished(first.id)
        await Message.filter(project_id=project.id).delete()
        with pytest.raises(errors.NoMessages):
            await h.engine.start_run("inv6", chat_id=1)
    assert (await Project.get(name="inv6")).status == "stopped"
    assert await ProcessRun.filter(project_id=project.id).count() == 1


async def test_each_target_gets_the_messages_in_order(db: str, sandbox: Sandbox) -> None:
    flaky = Behaviour(fail_5xx=1)
    chats = channels(sandbox, [f"@o{i}" for i in range(6)], o0=flaky, o2=flaky, o4=flaky)
    await make_project("inv9", chats, ["m0", "m1", "m2"])
    async with running_engine(sandbox, retry_base=0.05) as h:
        run = await h.engine.start_run("inv9", chat_id=1)
        event = await h.wait_finished(run.id)
    assert event.stats["success_count"] == 18
    for chat in chats:
        assert [m.text for m in sandbox.received(chat)] == ["m0", "m1", "m2"], chat


async def test_scheduler_holds_only_the_window(pg_db: str, sandbox: Sandbox) -> None:
    sandbox.auto_channels = True
    chats = [f"@w{i}" for i in range(3000)]
    await make_project("inv10", chats, ["hello"])
    peak = {"scheduled": 0, "claimed": 0}
    async with running_engine(sandbox, window=50) as h:
        engine = h.engine

        def sample(_event: JobEvent) -> None:
            peak["scheduled"] = max(peak["scheduled"], len(engine.scheduler.get_jobs()))
            peak["claimed"] = max(peak["claimed"], len(engine._claimed))

        engine.scheduler.add_listener(sample, EVENT_JOB_ADDED)
        run = await engine.start_run("inv10", chat_id=1)
        event = await h.wait_finished(run.id, timeout=40)
    assert event.stats["success_count"] == 3000
    assert 0 < peak["scheduled"] <= 50
    assert 0 < peak["claimed"] <= 50


def block_loop_once_all_added(engine: Engine, n: int, seconds: float) -> None:
    """Block the event loop (as a busy daemon would) right after the n-th job is added."""
    added = 0

    def on_added(_event: JobEvent) -> None:
        nonlocal added
        added += 1
        if added == n:
            time.sleep(seconds)

    engine.scheduler.add_listener(on_added, EVENT_JOB_ADDED)


@pytest.mark.parametrize("grace", [None, 1], ids=["engine-default", "apscheduler-default"])
async def test_burst_of_late_jobs_loses_none(
    sqlite_db: str, sandbox: Sandbox, grace: int | None
) -> None:
    sandbox.auto_channels = True
    chats = [f"@b{i}" for i in range(500)]
    await make_project("burst", chats, ["hello"])
    missed: list[JobEvent] = []
    async with running_engine(sandbox, window=500) as h:
        if grace is not None:  # the APScheduler default the engine must survive anyway
            h.engine.scheduler._job_defaults["misfire_grace_time"] = grace
        block_loop_once_all_added(h.engine, 500, 1.5)
        h.engine.scheduler.add_listener(missed.append, EVENT_JOB_MISSED)
        run = await h.engine.start_run("burst", chat_id=1)
        event = await h.wait_finished(run.id, timeout=20)
    assert event.stats == {
        "total_jobs": 500,
        "completed_jobs": 500,
        "success_count": 500,
        "error_count": 0,
    }
    assert all(len(sandbox.received(c)) == 1 for c in chats)
    assert (len(missed) > 0) == (grace is not None)
