"""The run engine: the database holds the queue, APScheduler holds a small window.

Flow of one job: the feeder claims due jobs from the database (status
`queued`) and adds each to APScheduler as `send:<job id>`; the send coroutine
waits for the rate limiter and calls Telegram; APScheduler's job events (executed,
error, missed) are turned into a `JobUpdate` by a tiny synchronous listener and
handed to one ordered consumer, which commits them in batches through
`herald.db.transitions` and announces the runs that ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from aiogram import Bot
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from tortoise.exceptions import DoesNotExist

from herald import errors
from herald.db import transitions
from herald.db.models import JobStatus, Message, ProcessRun, RunStatus
from herald.db.transitions import Claimed, FinishedRun, JobUpdate, Recorded
from herald.metrics import registry as m
from herald.scheduler.consumer import OutcomeConsumer, Retarget
from herald.scheduler.ratelimit import RateLimiter
from herald.scheduler.retry import Action, RetryPolicy
from herald.scheduler.sending import StoredMessage, chat_ref, deliver

log = logging.getLogger(__name__)
JOB_PREFIX = "send:"
#: Seconds between updates of the herald_runs_active and herald_jobs_pending gauges.
GAUGE_EVERY = 5.0


def utcnow() -> datetime:
    return datetime.now(UTC)


#: A run ended (completed, stopped or failed); the bot posts its notice.
RunFinished = FinishedRun


class _NotSent(Exception):
    """The run was paused or stopped, or the engine is closing: the job goes back."""


class Engine:
    def __init__(
        self,
        bot: Bot,
        *,
        max_attempts: int = 3,
        rate_limit: float = 25,
        on_run_finished: Callable[[RunFinished], Awaitable[None]] | None = None,
        retry_base: float = 1.0,
        send_timeout: float = 30.0,
        window: int | None = None,
        reconcile_every: float = 30.0,
    ) -> None:
        self.bot = bot
        self.policy = RetryPolicy(max_attempts=max_attempts, base=retry_base)
        self.limiter = RateLimiter(rate_limit)
        self.on_run_finished = on_run_finished
        self.send_timeout = send_timeout
        # Enough due jobs to keep the limiter busy for about two seconds (invariant 10).
        self.window = window or (max(10, int(rate_limit * 2)) if rate_limit > 0 else 400)
        self.reconcile_every = reconcile_every
        self.scheduler = AsyncIOScheduler(
            timezone=UTC,
            # A send that starts late is still a send: never skip it (misfire trap).
            job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
        )
        self.consumer = OutcomeConsumer(self._after_record)
        #: Active runs this engine knows, with their status (running ones may send).
        self._runs: dict[uuid.UUID, RunStatus] = {}
        #: Jobs claimed into the window, by job id.
        self._claimed: dict[int, Claimed] = {}
        #: Jobs whose send started and whose outcome is not committed yet.
        self._in_flight: set[int] = set()
        self._messages: dict[int, StoredMessage] = {}
        self._wake = asyncio.Event()
        self._recorded = asyncio.Event()
        self._closing = False
        #: Set when a write may have committed without our knowing (its reply was lost).
        self._sweep_needed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._feeder: asyncio.Task[None] | None = None
        self._reconciler: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Recover active runs from the database (invariant 5), then start sending."""
        released = await transitions.release_all_queued()
        for run in await transitions.active_runs():
            self._runs[run.id] = RunStatus(run.status)
            done = await transitions.reconcile(run.id, utcnow())
            if done:  # its last outcome was recorded, its count was not (invariant 7)
                m.RUNS_FINISHED.labels(str(done.status)).inc()
                self._runs.pop(done.run_id, None)
        if self._runs or released:
            log.info("Recovered %d active run(s); %d job(s) due again", len(self._runs), released)
        # Runs that ended while the daemon was down, or whose notice was never posted:
        # the bot posts it now (claim_notice keeps it to one); the metric counted them.
        for run in await transitions.unnotified_runs():
            if self.on_run_finished is not None:
                self._spawn(self.on_run_finished(await self._event(run)))
        self.scheduler.add_listener(
            self._on_job_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
        )
        self.scheduler.start()
        self.consumer.start()
        self._feeder = asyncio.create_task(self._feed(), name="herald-feeder")
        self._reconciler = asyncio.create_task(self._reconcile_loop(), name="herald-reconciler")

    def healthy(self) -> bool:
        return (
            self.scheduler.running
            and self.consumer.alive
            and self._feeder is not None
            and not self._feeder.done()
        )

    async def close(self, drain_timeout: float = 10.0) -> None:
        """Stop taking work, let sends in flight finish under a deadline, record them."""
        self._closing = True
        for task in (self._feeder, self._reconciler):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        deadline = time.monotonic() + drain_timeout
        await self._settle(lambda: not self._in_flight, drain_timeout)
        if self.scheduler.running:
            # Jobs still waiting in the window stay `queued`; the next start re-sends them.
            self.scheduler.shutdown(wait=False)
        await self.consumer.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=max(0.1, deadline - time.monotonic()))
        log.info(
            "Engine closed: %d send(s) still in flight, %d job(s) left for the next start",
            len(self._in_flight),
            len(self._claimed),
        )

    # --- operator actions ---------------------------------------------------

    async def start_run(self, project_name: str, chat_id: int | None) -> ProcessRun:
        run = await transitions.start_run(project_name, chat_id, utcnow())
        self._runs[run.id] = RunStatus.RUNNING
        m.RUNS_STARTED.inc()
        self._wake.set()
        return run

    async def stop_run(self, project_name: str) -> ProcessRun:
        """Manual stop (invariant 4): nothing is sent once this returns."""
        run = await transitions.active_run(project_name)
        self._runs.pop(run.id, None)  # the gate closes before any await below
        self._drop_window(run.id)
        in_flight = [j for j in self._in_flight if self._claimed[j].run_id == run.id]
        try:
            await transitions.stop_run(run.id, in_flight, utcnow())
        except errors.NotRunning:
            raise errors.NotRunning(project_name) from None
        self._spawn(self._announce_stop(run.id))
        return await ProcessRun.get(id=run.id)

    async def pause_run(self, project_name: str) -> ProcessRun:
        run = await transitions.active_run(project_name)
        if self._runs.get(run.id) != RunStatus.RUNNING:
            raise errors.NotRunning(project_name)
        self._runs[run.id] = RunStatus.PAUSED
        self._drop_window(run.id)
        in_flight = [j for j in self._in_flight if self._claimed[j].run_id == run.id]
        try:
            await transitions.pause_run(run.id, in_flight)
        except errors.NotRunning:
            raise errors.NotRunning(project_name) from None
        return await ProcessRun.get(id=run.id)

    async def resume_run(self, project_name: str) -> ProcessRun:
        try:
            run = await transitions.active_run(project_name)
            await transitions.resume_run(run.id)
        except errors.NotRunning:
            raise errors.NotPaused(project_name) from None
        except errors.NotPaused:
            raise errors.NotPaused(project_name) from None
        self._runs[run.id] = RunStatus.RUNNING
        self._wake.set()
        return await ProcessRun.get(id=run.id)

    # --- the window -----------------------------------------------------------

    def _drop_window(self, run_id: uuid.UUID) -> None:
        """Remove the run's jobs that have not started from APScheduler."""
        for job_id, claimed in list(self._claimed.items()):
            if claimed.run_id == run_id and job_id not in self._in_flight:
                with contextlib.suppress(Exception):
                    self.scheduler.remove_job(f"{JOB_PREFIX}{job_id}")
                del self._claimed[job_id]
        self._wake.set()

    async def _feed(self) -> None:
        """Keep the window full of due jobs of running runs (invariant 10).

        It refills once half the window is free, so claims are few and large.
        """
        while not self._closing:
            running = [r for r, s in self._runs.items() if s == RunStatus.RUNNING]
            room = self.window - len(self._claimed)
            if running and room >= max(1, self.window // 2):
                try:
                    if self._sweep_needed:
                        await self._release_unclaimed(running)
                    claimed = await transitions.claim_due(running, room, utcnow())
                except Exception as exc:  # database down: try again shortly (invariant 7)
                    log.warning("Claiming due jobs failed, retrying in 1 s: %s", exc)
                    # The claim may have committed with its reply lost: the sweep
                    # gives such jobs back once the database answers again.
                    self._sweep_needed = True
                    await asyncio.sleep(1.0)
                    continue
                self._schedule(claimed)
                if claimed:
                    continue
            self._wake.clear()
            idle = await self._idle(running)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(idle):
                    await self._wake.wait()

    async def _release_unclaimed(self, running: list[uuid.UUID]) -> None:
        """A claim whose reply was lost left jobs `queued` outside the window: free them.

        Only the feeder claims, and this runs in the feeder, so no claim can race it.
        """
        for run_id in running:
            released = await transitions.release_unclaimed(run_id, list(self._claimed))
            if released:
                log.warning(
                    "Run %s: %d job(s) claimed in an outage are due again", run_id, released
                )
        self._sweep_needed = False

    async def _idle(self, running: list[uuid.UUID]) -> float:
        """How long to sleep when nothing is due: until the next retry, at most 1 s."""
        if not running or len(self._claimed) >= self.window:
            return 1.0
        try:
            due = await transitions.next_due(running)
        except Exception:
            return 1.0
        if due is None:
            return 1.0
        return min(1.0, max(0.01, (due - utcnow()).total_seconds()))

    def _schedule(self, claimed: list[Claimed]) -> None:
        if not claimed:
            return
        now = utcnow()
        # Each add_job wakes the scheduler through call_soon_threadsafe; paused, the
        # whole batch costs one wake-up instead of one per job.
        self.scheduler.pause()
        try:
            for job in claimed:
                if self._runs.get(job.run_id) != RunStatus.RUNNING:
                    # Paused or stopped while we were claiming: give the job back.
                    self.consumer.put(JobUpdate(job.job_id, JobStatus.PENDING, due_at=now))
                    continue
                self._claimed[job.job_id] = job
                self.scheduler.add_job(
                    self._send,
                    trigger="date",
                    run_date=now,
                    args=[job.job_id],
                    id=f"{JOB_PREFIX}{job.job_id}",
                    replace_existing=True,
                )
        finally:
            self.scheduler.resume()

    async def _send(self, job_id: int) -> int:
        """One attempt; returns the sent message id or raises what Telegram said."""
        job = self._claimed[job_id]
        if not self._may_send(job):
            raise _NotSent()
        try:
            message = await self._message(job.message_id)
        except DoesNotExist:
            raise  # the message was deleted: a final failure
        except Exception as exc:
            # The database is away (invariant 7): nothing was sent, so the job goes
            # back without an attempt instead of failing as if Telegram had refused it.
            log.warning("Job %s not sent, its message is unreadable: %s", job_id, exc)
            raise _NotSent() from exc
        await self.limiter.take()
        # Checked again with no await before the request starts: a stop that
        # returned while we waited for the limiter wins (invariant 4).
        if not self._may_send(job):
            self.limiter.release(used=False)
            raise _NotSent()
        self._in_flight.add(job_id)
        started = time.perf_counter()
        try:
            return await deliver(self.bot, chat_ref(job.chat), message, self.send_timeout)
        finally:
            self.limiter.release()
            m.SEND_DURATION.observe(time.perf_counter() - started)

    def _may_send(self, job: Claimed) -> bool:
        """The run is running and this claim is still the live one.

        After a pause and a quick resume, a job dropped from the window may be
        claimed again: only the newest claim of a job may send, or it would go twice.
        """
        return (
            not self._closing
            and self._runs.get(job.run_id) == RunStatus.RUNNING
            and self._claimed.get(job.job_id) is job
        )

    async def _message(self, message_id: int | None) -> StoredMessage:
        if message_id not in self._messages:
            row = await Message.get(id=message_id)
            self._messages[row.id] = StoredMessage.of(row)
        return self._messages[message_id]  # type: ignore[index]

    # --- outcomes ---------------------------------------------------------------

    def _on_job_event(self, event: JobExecutionEvent) -> None:
        """APScheduler listener: synchronous, so it only classifies and enqueues."""
        if not event.job_id.startswith(JOB_PREFIX):
            return
        job_id = int(event.job_id.removeprefix(JOB_PREFIX))
        job = self._claimed.get(job_id)
        if job is None:
            return
        if event.code == EVENT_JOB_ERROR and isinstance(event.exception, asyncio.CancelledError):
            return  # shutdown(wait=False) cancelled it: not a failure, it stays queued
        self.consumer.put(self._update_for(job, event))

    def _update_for(self, job: Claimed, event: JobExecutionEvent) -> JobUpdate:
        """The decision of `RetryPolicy`, applied: metrics, the flood hold, the log line."""
        status = JobStatus
        now = utcnow()
        if event.code == EVENT_JOB_EXECUTED:
            return JobUpdate(job.job_id, status.SUCCEEDED, 1, sent_message_id=event.retval)
        if event.code == EVENT_JOB_MISSED or isinstance(event.exception, _NotSent):
            return self._unless_stopped(job, JobUpdate(job.job_id, status.PENDING, due_at=now))
        exc = event.exception
        decision = self.policy.decide(exc, job.attempts + 1)
        if decision.action == Action.FAIL:
            log.error("Job %s to %s failed: %s", job.job_id, job.chat, decision.reason)
            return JobUpdate(job.job_id, status.FAILED, 1, error=decision.reason)
        if decision.action == Action.FLOOD:
            m.FLOOD_WAITS.inc()
            self.limiter.hold(decision.delay)
            log.warning(
                "Flood wait: Telegram asked to pause %.0f s (job %s)", decision.delay, job.job_id
            )
            due = now + timedelta(seconds=decision.delay)
            return self._unless_stopped(job, JobUpdate(job.job_id, status.PENDING, due_at=due))
        if decision.action == Action.MIGRATE:
            self.consumer.put(Retarget(job.job_id, str(decision.new_chat)))
            return self._unless_stopped(job, JobUpdate(job.job_id, status.PENDING, due_at=now))
        m.JOB_RETRIES.inc()
        log.info(
            "Job %s to %s will retry in %.1f s (attempt %d): %s",
            job.job_id,
            job.chat,
            decision.delay,
            job.attempts + 1,
            decision.reason,
        )
        due = now + timedelta(seconds=decision.delay)
        update = JobUpdate(job.job_id, status.RETRYING, 1, error=decision.reason, due_at=due)
        return self._unless_stopped(job, update)

    def _unless_stopped(self, job: Claimed, update: JobUpdate) -> JobUpdate:
        """A run that was stopped meanwhile sends nothing more: the job is cancelled."""
        if job.run_id in self._runs:
            return update
        return JobUpdate(job.job_id, JobStatus.CANCELLED, update.attempt, error=update.error)

    def _after_record(self, job_ids: list[int], recorded: Recorded) -> None:
        """Called by the consumer once a batch is committed."""
        for job_id in job_ids:
            self._claimed.pop(job_id, None)
            self._in_flight.discard(job_id)
        # Counted here, after the guarded write, so a duplicated event counts once.
        m.JOBS_FINISHED.labels("success").inc(recorded.succeeded)
        m.JOBS_FINISHED.labels("error").inc(recorded.failed)
        for run in recorded.finished:
            self._finished(run)
        self._wake.set()
        self._recorded.set()

    async def _settle(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until `condition` holds, re-checking after each committed batch."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._recorded.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 0.5)):
                    await self._recorded.wait()
        return True

    def _finished(self, run: FinishedRun) -> None:
        self._runs.pop(run.run_id, None)
        self._announce(run)

    def _announce(self, event: RunFinished) -> None:
        m.RUNS_FINISHED.labels(str(event.status)).inc()
        if self.on_run_finished is not None:
            self._spawn(self.on_run_finished(event))

    async def _announce_stop(self, run_id: uuid.UUID) -> None:
        """The stop's notice follows once the sends that were in flight are counted."""
        await self._settle(
            lambda: (
                not any(
                    self._claimed[j].run_id == run_id for j in self._in_flight if j in self._claimed
                )
            ),
            self.send_timeout + 5,
        )
        await self.consumer.flush()
        self._announce(await self._event(await ProcessRun.get(id=run_id)))

    async def _event(self, run: ProcessRun) -> RunFinished:
        project = await run.project
        stats = {k: int(v) for k, v in dict(run.stats).items()}
        return RunFinished(run.id, project.name, RunStatus(run.status), stats, run.chat_id)

    async def _sweep(self) -> None:
        """Announce runs completed by a write whose reply was lost in an outage."""
        for run in await transitions.unnotified_runs():
            if run.id in self._runs:
                self._runs.pop(run.id)
                self._announce(await self._event(run))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Run-finished handler failed: %r", task.exception())

    async def _reconcile_loop(self) -> None:
        """Invariant 7: repair stats from job rows now and then; keep the gauges fresh."""
        last_reconcile = time.monotonic()
        while not self._closing:
            m.RUNS_ACTIVE.set(len(self._runs))
            with contextlib.suppress(Exception):  # a gauge may lag while the database is down
                m.JOBS_PENDING.set(await transitions.open_jobs())
                await self._sweep()
            if time.monotonic() - last_reconcile >= self.reconcile_every:
                last_reconcile = time.monotonic()
                for run_id in list(self._runs):
                    self.consumer.reconcile(run_id)
            await asyncio.sleep(min(GAUGE_EVERY, self.reconcile_every))
