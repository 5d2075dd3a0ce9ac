"""The seed scenarios of the original feature, on the real engine and a real Bot API sandbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest

from herald import errors
from herald.db.models import JobStatus, Project, ProjectStatus, RunStatus, SendJob
from herald.sandbox import Behaviour, Sandbox
from tests.engine_kit import make_project, running_engine, stats


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox() as sb:
        yield sb


def sends_to(sandbox: Sandbox, chat: str) -> int:
    ids = {chat, sandbox.chat_id(chat)}
    return sum(1 for call in sandbox.calls if call.chat in ids and call.method != "getUpdates")


async def test_all_succeed_auto_stops(db: str, sandbox: Sandbox) -> None:
    chats = ["@c1", "@c2", "@c3"]
    for chat in chats:
        sandbox.add_channel(chat)
    await make_project("seed1", chats, ["hello"])
    async with running_engine(sandbox) as h:
        run = await h.engine.start_run("seed1", chat_id=1)
        event = await h.wait_finished(run.id)
    assert event.status == RunStatus.COMPLETED
    assert event.stats == {
        "total_jobs": 3,
        "completed_jobs": 3,
        "success_count": 3,
        "error_count": 0,
    }
    assert await stats(run.id) == event.stats
    assert (await Project.get(name="seed1")).status == ProjectStatus.STOPPED
    assert [len(sandbox.received(c)) for c in chats] == [1, 1, 1]
    assert len(h.finished) == 1


async def test_some_fail_after_three_attempts(db: str, sandbox: Sandbox) -> None:
    chats = [f"@ok{i}" for i in range(3)] + ["@bad1", "@bad2"]
    for chat in chats:
        sandbox.add_channel(chat, Behaviour(fail_5xx_always=chat.startswith("@bad")))
    await make_project("seed2", chats, ["hello"])
    async with running_engine(sandbox, max_attempts=3) as h:
        run = await h.engine.start_run("seed2", chat_id=1)
        event = await h.wait_finished(run.id)
    assert event.status == RunStatus.COMPLETED
    assert event.stats == {
        "total_jobs": 5,
        "completed_jobs": 5,
        "success_count": 3,
        "error_count": 2,
    }
    assert sends_to(sandbox, "@bad1") == 3
    assert sends_to(sandbox, "@bad2") == 3
    failed = await SendJob.filter(run_id=run.id, status=JobStatus.FAILED)
    assert sorted(j.chat for j in failed) == ["@bad1", "@bad2"]
    assert all(j.attempts == 3 for j in failed)
    assert all("after 3 attempts" in (j.last_error or "") for j in failed)
    assert (await Project.get(name="seed2")).status == ProjectStatus.STOPPED


async def test_manual_stop_cancels_the_rest(db: str, sandbox: Sandbox) -> None:
    chats = [f"@s{i}" for i in range(10)]
    for chat in chats:
        sandbox.add_channel(chat)
    await make_project("seed3", chats, ["hello"])
    # 5 sends per second: the stop lands while half of the run is still waiting.
    async with running_engine(sandbox, rate_limit=5) as h:
        run = await h.engine.start_run("seed3", chat_id=1)
        await h.wait_final(run.id, 5)
        stopped = await h.engine.stop_run("seed3")
        delivered_at_stop = sandbox.stats.delivered
        event = await h.wait_finished(run.id)
    assert stopped.status == RunStatus.STOPPED
    assert event.status == RunStatus.STOPPED
    jobs = Counter(j.status for j in await SendJob.filter(run_id=run.id))
    final = await stats(run.id)
    assert final["completed_jobs"] == jobs[JobStatus.SUCCEEDED] + jobs[JobStatus.FAILED]
    assert final["completed_jobs"] >= 5
    assert jobs[JobStatus.CANCELLED] == 10 - final["completed_jobs"]
    assert jobs[JobStatus.CANCELLED] > 0
    # Nothing was sent after the stop returned; a send in flight then was counted.
    assert sandbox.stats.delivered == delivered_at_stop == final["success_count"]
    assert (await Project.get(name="seed3")).status == ProjectStatus.STOPPED


async def test_run_without_jobs_is_refused(db: str, sandbox: Sandbox) -> None:
    await make_project("empty_targets", [], ["hello"])
    await make_project("empty_messages", ["@x"], [])
    async with running_engine(sandbox) as h:
        with pytest.raises(errors.NoTargets):
            await h.engine.start_run("empty_targets", chat_id=1)
        with pytest.raises(errors.NoMessages):
            await h.engine.start_run("empty_messages", chat_id=1)
        with pytest.raises(errors.UnknownProject):
            await h.engine.start_run("nope", chat_id=1)
    for name in ("empty_targets", "empty_messages"):
        project = await Project.get(name=name)
        assert project.status == ProjectStatus.STOPPED
        assert await project.runs.all().count() == 0
