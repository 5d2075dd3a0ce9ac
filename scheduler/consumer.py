"""The one ordered consumer of job outcomes.

APScheduler listeners are synchronous and fire in completion order; committing
each outcome in its own fire-and-forget task would let a Postgres pool commit
them out of order (a sent job left `retrying`). Everything that writes job
outcomes goes through this queue instead, and is committed in batches: one
transaction for however many outcomes arrived meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from herald.db import transitions
from herald.db.transitions import JobUpdate, Recorded

log = logging.getLogger(__name__)

BATCH = 500
T = TypeVar("T")


@dataclass(frozen=True)
class Retarget:
    """Telegram moved the job's chat to a new id (migrate_to_chat_id)."""

    job_id: int
    new_chat: str


@dataclass(frozen=True)
class _Reconcile:
    run_id: uuid.UUID


AfterRecord = Callable[[list[int], Recorded], None]
_Item = JobUpdate | Retarget | _Reconcile | asyncio.Future | None


class OutcomeConsumer:
    def __init__(self, after_record: AfterRecord) -> None:
        self._after_record = after_record
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="herald-outcomes")

    def put(self, item: JobUpdate | Retarget) -> None:
        self._queue.put_nowait(item)

    def reconcile(self, run_id: uuid.UUID) -> None:
        self._queue.put_nowait(_Reconcile(run_id))

    async def flush(self) -> None:
        """Return once everything queued before this call is committed."""
        if not self.alive:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(done)
        await done

    async def close(self, timeout: float = 10.0) -> None:
        if not self.alive:
            return
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)  # type: ignore[arg-type]
        except TimeoutError:
            log.error(
                "Outcome consumer did not drain in %.0f s; the reconciler will repair "
                "the stats at the next start",
                timeout,
            )
            self._task.cancel()  # type: ignore[union-attr]

    async def _run(self) -> None:
        while True:
            items = [await self._queue.get()]
            while len(items) < BATCH and not self._queue.empty():
                items.append(self._queue.get_nowait())
            updates: list[JobUpdate] = []
            for item in items:
                if isinstance(item, JobUpdate):
                    updates.append(item)
                    continue
                await self._commit(updates)
                updates = []
                if item is None:
                    return
                await self._handle(item)
            await self._commit(updates)

    async def _handle(self, item: Retarget | _Reconcile | asyncio.Future) -> None:
        if isinstance(item, asyncio.Future):
            if not item.done():
                item.set_result(None)
        elif isinstance(item, Retarget):
            await _until_done(lambda: transitions.retarget(item.job_id, item.new_chat))
        else:
            done = await _until_done(lambda: transitions.reconcile(item.run_id, _now()))
            self._after_record([], Recorded([done] if done else []))

    async def _commit(self, updates: list[JobUpdate]) -> None:
        if not updates:
            return
        recorded = await _until_done(lambda: transitions.record(updates, _now()))
        self._after_record([u.job_id for u in updates], recorded)


def _now() -> datetime:
    return datetime.now(UTC)


async def _until_done(action: Callable[[], Awaitable[T]]) -> T:
    """Retry a write until the database takes it: an outage loses nothing (invariant 7)."""
    delay = 0.2
    while True:
        try:
            return await action()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error(
                "Recording outcomes failed (the run stays active; retrying in %.1f s): %s",
                delay,
                exc,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
