"""Every change of a job's, run's or project's status, and of a run's stats.

Handlers and the scheduler call these functions; nobody else writes statuses or
stats. Each transition is one guarded conditional statement (or one short
transaction of them), so a duplicated event, a retry or a concurrent caller can
never count a job twice or stop a run twice: the guard lets exactly one win.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from herald import errors
from herald.db.models import (
    ACTIVE_RUN,
    FINAL_JOB,
    OPEN_JOB,
    JobStatus,
    Message,
    ProcessRun,
    Project,
    ProjectStatus,
    RunStatus,
    Target,
    empty_stats,
)
from herald.db.sql import STAT_KEYS, conn, dialect, rows, sql_list, transaction

log = logging.getLogger(__name__)

_OPEN = sql_list(OPEN_JOB)
_ACTIVE = sql_list(ACTIVE_RUN)


@dataclass(frozen=True)
class JobUpdate:
    """What one attempt of a queued job led to; applied only while the job is queued."""

    job_id: int
    status: JobStatus
    #: 1 when this counts as an attempt (a 429 or a requeue does not).
    attempt: int = 0
    sent_message_id: int | None = None
    error: str | None = None
    #: When a retrying or requeued job is due again.
    due_at: datetime | None = None


@dataclass(frozen=True)
class FinishedRun:
    run_id: uuid.UUID
    project_name: str
    status: RunStatus
    stats: dict[str, int]
    chat_id: int | None


@dataclass(frozen=True)
class Recorded:
    """What one batch changed: the finals it counted, and the runs it completed."""

    finished: list[FinishedRun]
    succeeded: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Claimed:
    job_id: int
    run_id: uuid.UUID
    chat: str
    message_id: int | None
    attempts: int


# --- runs -----------------------------------------------------------------


async def start_run(project_name: str, chat_id: int | None, now: datetime) -> ProcessRun:
    """Create the run and one job per (target, message); the project becomes running.

    Refused (nothing changes) without targets or messages (invariant 6) or while
    another run is active. Jobs are inserted by one INSERT … SELECT, so a
    100,000-target run costs one statement, not 100,000 objects.
    """
    project = await Project.get_or_none(name=project_name)
    if project is None:
        raise errors.UnknownProject(project_name)
    async with transaction() as tx:
        d = dialect(tx)
        targets = await Target.filter(project_id=project.id).using_db(tx).count()
        messages = await Message.filter(project_id=project.id).using_db(tx).count()
        if targets == 0:
            raise errors.NoTargets(project_name)
        if messages == 0:
            raise errors.NoMessages(project_name)
        claimed, _ = await tx.execute_query(
            f"UPDATE projects SET status = 'running' WHERE id = {d.param(1)}"
            " AND status IN ('stopped', 'failed')",
            [str(project.id)],
        )
        if not claimed:
            raise errors.AlreadyRunning(project_name)
        run = await ProcessRun.create(
            project_id=project.id,
            stats=empty_stats(targets * messages),
            chat_id=chat_id,
            using_db=tx,
        )
        # The first message of each target is due now; the others wait for the one
        # before them to become final, so each target gets them in order (invariant 9).
        await tx.execute_query(
            "INSERT INTO send_jobs (run_id, chat, target_no, message_id, seq, status, attempts,"
            " due_at, created_at)"
            f" SELECT {d.param(1, 'uuid')}, t.chat, t.position, m.id, m.position,"
            " CASE WHEN m.position = 0 THEN 'pending' ELSE 'waiting' END, 0,"
            f" {d.param(2, 'timestamptz')}, {d.param(2, 'timestamptz')}"
            " FROM targets t CROSS JOIN messages m"
            f" WHERE t.project_id = {d.param(3, 'uuid')} AND m.project_id = {d.param(3, 'uuid')}",
            [str(run.id), now, str(project.id)],
        )
    log.info("Run %s started for project %s: %d jobs", run.id, project.id, targets * messages)
    return run


async def active_run(project_name: str) -> ProcessRun:
    """The project's running or paused run; NotRunning when there is none."""
    project = await Project.get_or_none(name=project_name)
    if project is None:
        raise errors.UnknownProject(project_name)
    run = await ProcessRun.filter(project_id=project.id, status__in=ACTIVE_RUN).first()
    if run is None:
        raise errors.NotRunning(project_name)
    return run


async def active_runs() -> list[ProcessRun]:
    return await ProcessRun.filter(status__in=ACTIVE_RUN).order_by("created_at")


async def _set_run_and_project(
    run_id: uuid.UUID,
    run_from: Iterable[str],
    run_to: RunStatus,
    project_to: ProjectStatus,
    now: datetime | None = None,
) -> bool:
    """Guarded: the run moves only from `run_from`; then its project follows."""
    client = conn()
    d = dialect(client)
    async with transaction() as tx:
        finished = f", finished_at = {d.param(2, 'timestamptz')}" if now else ""
        changed, _ = await tx.execute_query(
            f"UPDATE process_runs SET status = '{run_to}'{finished}"
            f" WHERE id = {d.param(1, 'uuid')} AND status IN {sql_list(run_from)}",
            [str(run_id), now] if now else [str(run_id)],
        )
        if changed:
            await tx.execute_query(
                f"UPDATE projects SET status = '{project_to}' WHERE id ="
                f" (SELECT project_id FROM process_runs WHERE id = {d.param(1, 'uuid')})",
                [str(run_id)],
            )
    return bool(changed)


async def _cancel_or_release(run_id: uuid.UUID, keep: Sequence[int], to: JobStatus) -> int:
    """Open jobs of the run (except `keep`, the sends in flight) move to `to`."""
    client = conn()
    d = dialect(client)
    keep_sql = ""
    if keep:
        keep_sql = " AND id NOT IN (" + ", ".join(str(int(k)) for k in keep) + ")"
    statuses = _OPEN if to == JobStatus.CANCELLED else sql_list([JobStatus.QUEUED])
    count, _ = await client.execute_query(
        f"UPDATE send_jobs SET status = '{to}' WHERE run_id = {d.param(1, 'uuid')}"
        f" AND status IN {statuses}{keep_sql}",
        [str(run_id)],
    )
    return count


async def stop_run(run_id: uuid.UUID, in_flight: Sequence[int], now: datetime) -> int:
    """Manual stop (invariant 4): run and project stopped, unfinished jobs cancelled.

    Sends in flight keep their `queued` status: they finish and are counted.
    Returns the number of jobs cancelled; NotRunning if the run was not active.
    """
    if not await _set_run_and_project(
        run_id, ACTIVE_RUN, RunStatus.STOPPED, ProjectStatus.STOPPED, now
    ):
        raise errors.NotRunning()
    cancelled = await _cancel_or_release(run_id, in_flight, JobStatus.CANCELLED)
    log.info("Run %s stopped by an operator: %d jobs cancelled", run_id, cancelled)
    return cancelled


async def release_unclaimed(run_id: uuid.UUID, claimed: Sequence[int]) -> int:
    """Jobs left `queued` outside the window (a claim whose reply was lost) are due again."""
    return await _cancel_or_release(run_id, claimed, JobStatus.PENDING)


async def pause_run(run_id: uuid.UUID, in_flight: Sequence[int]) -> None:
    if not await _set_run_and_project(
        run_id, [RunStatus.RUNNING], RunStatus.PAUSED, ProjectStatus.PAUSED
    ):
        raise errors.NotRunning()
    await _cancel_or_release(run_id, in_flight, JobStatus.PENDING)
    log.info("Run %s paused", run_id)


async def resume_run(run_id: uuid.UUID) -> None:
    if not await _set_run_and_project(
        run_id, [RunStatus.PAUSED], RunStatus.RUNNING, ProjectStatus.RUNNING
    ):
        raise errors.NotPaused()
    log.info("Run %s resumed", run_id)


async def claim_notice(run_id: uuid.UUID, now: datetime) -> bool:
    """True for exactly one caller: that one posts the completion notice."""
    d = dialect()
    changed, _ = await conn().execute_query(
        f"UPDATE process_runs SET notified_at = {d.param(2, 'timestamptz')}"
        f" WHERE id = {d.param(1, 'uuid')} AND notified_at IS NULL"
        f" AND status NOT IN {_ACTIVE}",
        [str(run_id), now],
    )
    return bool(changed)


async def unnotified_runs() -> list[ProcessRun]:
    """Finished runs whose notice was never posted (the daemon stopped in between)."""
    return await ProcessRun.filter(
        notified_at__isnull=True,
        status__in=(RunStatus.COMPLETED, RunStatus.STOPPED, RunStatus.FAILED),
    ).order_by("created_at")


# --- jobs -----------------------------------------------------------------


async def claim_due(run_ids: Sequence[uuid.UUID], limit: int, now: datetime) -> list[Claimed]:
    """Move up to `limit` due jobs of running runs into the scheduler's window."""
    if not run_ids or limit <= 0:
        return []
    client = conn()
    d = dialect(client)
    runs = ", ".join(f"'{r}'" for r in run_ids)  # uuids from our own rows
    found = await rows(
        client,
        f"UPDATE send_jobs SET status = 'queued' WHERE id IN (SELECT id FROM send_jobs"
        f" WHERE run_id IN ({runs}) AND status IN ('pending', 'retrying')"
        f" AND due_at <= {d.param(1, 'timestamptz')} ORDER BY due_at, id LIMIT {int(limit)}"
        f"{d.skip_locked}) RETURNING id, run_id, chat, message_id, attempts",
        [now],
    )
    return [
        Claimed(r["id"], uuid.UUID(str(r["run_id"])), r["chat"], r["message_id"], r["attempts"])
        for r in sorted(found, key=lambda r: r["id"])
    ]


async def next_due(run_ids: Sequence[uuid.UUID]) -> datetime | None:
    """When the earliest waiting retry of these runs is due (to sleep until then)."""
    if not run_ids:
        return None
    runs = ", ".join(f"'{r}'" for r in run_ids)
    found = await rows(
        conn(),
        f"SELECT MIN(due_at) AS due FROM send_jobs WHERE run_id IN ({runs})"
        " AND status IN ('pending', 'retrying')",
    )
    due = found[0]["due"] if found else None
    if isinstance(due, str):  # SQLite returns the stored ISO text for an aggregate
        due = datetime.fromisoformat(due)
    return due


async def open_jobs() -> int:
    """Jobs of active runs that are not final yet (the herald_jobs_pending gauge)."""
    found = await rows(
        conn(),
        f"SELECT COUNT(*) AS n FROM send_jobs WHERE status IN {_OPEN}"
        f" AND run_id IN (SELECT id FROM process_runs WHERE status IN {_ACTIVE})",
    )
    return int(found[0]["n"])


async def release_all_queued() -> int:
    """At start nothing is in flight: every job left `queued` by a crash is due again.

    A job that was mid-send when the daemon died may therefore be sent once more
    (invariant 5); Telegram offers no idempotency key to prevent it.
    """
    count, _ = await conn().execute_query(
        "UPDATE send_jobs SET status = 'pending' WHERE status = 'queued'"
        f" AND run_id IN (SELECT id FROM process_runs WHERE status IN {_ACTIVE})"
    )
    return count


async def retarget(job_id: int, new_chat: str) -> None:
    """Telegram moved a group to a supergroup: later jobs and the project follow."""
    d = dialect()
    job = await rows(
        conn(), f"SELECT run_id, chat FROM send_jobs WHERE id = {d.param(1)}", [job_id]
    )
    if not job:
        return
    run_id, old = str(job[0]["run_id"]), job[0]["chat"]
    async with transaction() as tx:
        await tx.execute_query(
            f"UPDATE send_jobs SET chat = {d.param(1)} WHERE run_id = {d.param(2, 'uuid')}"
            f" AND chat = {d.param(3)}",
            [new_chat, run_id, old],
        )
        await tx.execute_query(
            f"UPDATE targets SET chat = {d.param(1)} WHERE chat = {d.param(2)} AND project_id ="
            f" (SELECT project_id FROM process_runs WHERE id = {d.param(3, 'uuid')})"
            f" AND NOT EXISTS (SELECT 1 FROM targets t2 WHERE t2.chat = {d.param(1)}"
            " AND t2.project_id = targets.project_id)",
            [new_chat, old, run_id],
        )
    log.info("Target %s migrated to %s (run %s)", old, new_chat, run_id)


# --- outcomes and auto-stop ------------------------------------------------

_FINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED)


async def record(updates: Sequence[JobUpdate], now: datetime) -> Recorded:
    """Apply a batch of attempt outcomes in one transaction; return runs that just ended.

    A job changes only while it is `queued`, so an update that arrives twice, or
    after a stop cancelled the job, changes nothing. Only the rows that did
    change are counted (invariant 1), with one SQL increment per run, and a run
    whose last job became final is completed here, exactly once (invariant 3).
    """
    unique = list({u.job_id: u for u in reversed(updates)}.values())  # first one wins
    if not unique:
        return Recorded([])
    async with transaction() as tx:
        changed = await _apply_updates(tx, unique, now)
        finals = [r for r in changed if r["status"] in _FINAL]
        await _release_next_messages(tx, finals, now)
        per_run: dict[str, Counter[str]] = {}
        for r in finals:
            per_run.setdefault(str(r["run_id"]), Counter())[r["status"]] += 1
        finished = []
        for run_id, counts in per_run.items():
            done = await _count(
                tx, run_id, counts[JobStatus.SUCCEEDED], counts[JobStatus.FAILED], now
            )
            if done:
                finished.append(done)
    for run in finished:
        _log_finished(run)
    counted = Counter(r["status"] for r in finals)
    return Recorded(finished, counted[JobStatus.SUCCEEDED], counted[JobStatus.FAILED])


async def _apply_updates(tx, updates: Sequence[JobUpdate], now: datetime) -> list[dict]:
    d = dialect(tx)
    types = ("bigint", "text", "int", "bigint", "text", "timestamptz")
    values: list[object] = []
    tuples = []
    for i, u in enumerate(updates):
        tuples.append(f"({d.params(i * len(types) + 2, types)})")
        values += [u.job_id, str(u.status), u.attempt, u.sent_message_id, u.error, u.due_at]
    return await rows(
        tx,
        f"WITH v(id, st, inc, mid, err, due) AS (VALUES {', '.join(tuples)})"
        " UPDATE send_jobs SET status = v.st, attempts = send_jobs.attempts + v.inc,"
        " sent_message_id = COALESCE(v.mid, send_jobs.sent_message_id),"
        " last_error = COALESCE(v.err, send_jobs.last_error),"
        " due_at = COALESCE(v.due, send_jobs.due_at),"
        f" finished_at = CASE WHEN v.st IN {sql_list(FINAL_JOB)}"
        f" THEN {d.param(1, 'timestamptz')} ELSE send_jobs.finished_at END"
        " FROM v WHERE send_jobs.id = v.id AND send_jobs.status = 'queued'"
        " RETURNING send_jobs.id, send_jobs.run_id, send_jobs.target_no, send_jobs.seq,"
        " send_jobs.status",
        [now, *values],
    )


async def _release_next_messages(tx, finals: Sequence[dict], now: datetime) -> None:
    """The next message to each target whose previous job just became final is due."""
    by_run: dict[str, list[tuple[int, int]]] = {}
    for r in finals:
        by_run.setdefault(str(r["run_id"]), []).append((int(r["target_no"]), int(r["seq"]) + 1))
    d = dialect(tx)
    for run_id, keys in by_run.items():
        pairs = ", ".join(f"({t}, {s})" for t, s in keys)  # integers from our own rows
        await tx.execute_query(
            f"UPDATE send_jobs SET status = 'pending', due_at = {d.param(1, 'timestamptz')}"
            f" WHERE run_id = {d.param(2, 'uuid')} AND status = 'waiting'"
            f" AND (target_no, seq) IN (VALUES {pairs})",
            [now, run_id],
        )


async def _count(tx, run_id: str, success: int, error: int, now: datetime) -> FinishedRun | None:
    """Increment the run's counters in SQL, then complete it if that was its last job."""
    d = dialect(tx)
    progress = await rows(
        tx,
        "UPDATE process_runs SET stats = "
        + d.stats_add(d.param(2, "bigint"), d.param(3, "bigint"), d.param(4, "bigint"))
        + f" WHERE id = {d.param(1, 'uuid')} RETURNING stats",
        [run_id, success + error, success, error],
    )
    stats = _stats(progress[0]["stats"])
    log.info(
        "[Status Check] Run %s: %d/%d jobs completed",
        run_id,
        stats["completed_jobs"],
        stats["total_jobs"],
    )
    return await _complete_if_done(tx, run_id, now)


async def _complete_if_done(tx, run_id: str, now: datetime) -> FinishedRun | None:
    d = dialect(tx)
    done = await rows(
        tx,
        f"UPDATE process_runs SET status = 'completed', finished_at = {d.param(2, 'timestamptz')}"
        f" WHERE id = {d.param(1, 'uuid')} AND status IN {_ACTIVE} AND {d.done}"
        " RETURNING id, project_id, stats, chat_id",
        [run_id, now],
    )
    if not done:
        return None
    row = done[0]
    project = await rows(
        tx,
        f"UPDATE projects SET status = 'stopped' WHERE id = {d.param(1, 'uuid')}"
        " RETURNING id, name",
        [str(row["project_id"])],
    )
    log.info(
        "[Status Check] All jobs completed for run %s. Stopping project %s...",
        run_id,
        row["project_id"],
    )
    return FinishedRun(
        run_id=uuid.UUID(run_id),
        project_name=project[0]["name"],
        status=RunStatus.COMPLETED,
        stats=_stats(row["stats"]),
        chat_id=row["chat_id"],
    )


def _log_finished(run: FinishedRun) -> None:
    log.info(
        "[Status Check] ✅ Project %s stopped successfully (run %s: %d ok, %d failed)",
        run.project_name,
        run.run_id,
        run.stats["success_count"],
        run.stats["error_count"],
    )


def _stats(value: object) -> dict[str, int]:
    data = json.loads(value) if isinstance(value, str) else dict(value)  # type: ignore[arg-type]
    return {k: int(data[k]) for k in STAT_KEYS}


async def reconcile(run_id: uuid.UUID, now: datetime) -> FinishedRun | None:
    """Recompute a run's stats from its job rows, repair drift, complete it if done.

    The job rows are the truth: after a database outage (invariant 7) or a crash
    between an outcome and its count, the counters are rebuilt from them.
    """
    async with transaction() as tx:
        d = dialect(tx)
        counts = {
            r["status"]: int(r["n"])
            for r in await rows(
                tx,
                f"SELECT status, COUNT(*) AS n FROM send_jobs WHERE run_id = {d.param(1, 'uuid')}"
                " GROUP BY status",
                [str(run_id)],
            )
        }
        success, error = counts.get("succeeded", 0), counts.get("failed", 0)
        stats = {
            "total_jobs": sum(counts.values()),
            "completed_jobs": success + error,
            "success_count": success,
            "error_count": error,
        }
        drift, _ = await tx.execute_query(
            f"UPDATE process_runs SET stats = {d.stats_json(d.param(2))}"
            f" WHERE id = {d.param(1, 'uuid')} AND status IN {_ACTIVE}"
            # The whole JSON, so a drifted error_count or total_jobs, or a missing key
            # (a NULL that `<>` would never match), is repaired too.
            f" AND {d.stats_json('stats')} <> {d.stats_json(d.param(2))}",
            [str(run_id), json.dumps(stats)],
        )
        if drift:
            log.warning("Run %s: stats repaired from job rows: %s", run_id, stats)
        done = await _complete_if_done(tx, str(run_id), now)
    if done:
        _log_finished(done)
    return done
