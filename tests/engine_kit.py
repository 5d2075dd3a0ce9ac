"""Building blocks for engine tests: projects in the database, an engine on a sandbox."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from herald.db import transitions
from herald.db.models import JobStatus, Message, ProcessRun, Project, SendJob, Target
from herald.sandbox import Sandbox
from herald.scheduler.engine import Engine, RunFinished


async def make_project(name: str, chats: list[str], texts: list[str]) -> Project:
    project = await Project.create(name=name)
    await Target.bulk_create(
        [Target(project=project, chat=chat, position=i) for i, chat in enumerate(chats)]
    )
    await Message.bulk_create(
        [
            Message(project=project, position=i, kind="text", content={"text": text})
            for i, text in enumerate(texts)
        ]
    )
    return project


#: A fixed "now" for tests that drive the transitions without an engine.
T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def claimed_run(name: str, targets: int) -> tuple[uuid.UUID, list[int]]:
    """A started one-message run whose jobs are all claimed (queued), as the engine would."""
    await make_project(name, [f"@{name}{i}" for i in range(targets)], ["hello"])
    run = await transitions.start_run(name, None, T0)
    claimed = await transitions.claim_due([run.id], targets, T0)
    return run.id, [c.job_id for c in claimed]


@dataclass
class Harness:
    sandbox: Sandbox
    engine: Engine
    finished: list[RunFinished] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_finished(self, event: RunFinished) -> None:
        self.finished.append(event)
        self.event.set()

    async def wait_finished(self, run_id: uuid.UUID, timeout: float = 15) -> RunFinished:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.finished:
                    if event.run_id == run_id:
                        return event
                self.event.clear()
                await self.event.wait()

    async def wait_final(self, run_id: uuid.UUID, n: int, timeout: float = 15) -> None:
        """Until at least `n` jobs of the run are final (polls the database)."""
        async with asyncio.timeout(timeout):
            while await final_jobs(run_id) < n:  # noqa: ASYNC110 - polls the database
                await asyncio.sleep(0.01)


async def final_jobs(run_id: uuid.UUID) -> int:
    return await SendJob.filter(
        run_id=run_id, status__in=(JobStatus.SUCCEEDED, JobStatus.FAILED)
    ).count()


async def stats(run_id: uuid.UUID) -> dict[str, int]:
    return dict((await ProcessRun.get(id=run_id)).stats)


@asynccontextmanager
async def running_engine(
    sandbox: Sandbox, *, rate_limit: float = 0, max_attempts: int = 3, **kwargs: object
) -> AsyncIterator[Harness]:
    bot = sandbox.bot(timeout=kwargs.pop("bot_timeout", 5.0))  # type: ignore[arg-type]
    harness = Harness(sandbox, None)  # type: ignore[arg-type]
    engine = Engine(
        bot,
        max_attempts=max_attempts,
        rate_limit=rate_limit,
        on_run_finished=harness.on_finished,
        retry_base=kwargs.pop("retry_base", 0.01),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )
    harness.engine = engine
    await engine.start()
    try:
        yield harness
    finally:
        await engine.close(drain_timeout=5)
        await bot.session.close()
