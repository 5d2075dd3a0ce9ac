"""Reads for the bot: project lists and overviews, run histories, progress, failures.

Nothing here writes; every function returns plain data the texts can render.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from tortoise.functions import Count, Max, Min

from herald.db.models import (
    ACTIVE_RUN,
    JobStatus,
    Message,
    ProcessRun,
    Project,
    ProjectStatus,
    RunStatus,
    SendJob,
    Target,
)
from herald.db.projects import get_project
from herald.db.sql import STAT_KEYS
from herald.errors import NoMessages


@dataclass(frozen=True)
class ProjectLine:
    name: str
    status: ProjectStatus
    targets: int
    messages: int


@dataclass(frozen=True)
class RunView:
    id: uuid.UUID
    status: RunStatus
    #: Exactly the four counters of contract 4.
    stats: dict[str, int]
    created_at: datetime
    finished_at: datetime | None
    #: Jobs waiting for a retry (not counted yet, invariant 2).
    retrying: int = 0
    #: Jobs a manual stop cancelled.
    cancelled: int = 0


@dataclass(frozen=True)
class Overview:
    name: str
    status: ProjectStatus
    schedule: str | None
    targets: list[str]
    messages: list[Message]
    last_run: RunView | None


@dataclass(frozen=True)
class Progress:
    """What the progress message and the completion notice show."""

    project: str
    chat_id: int | None
    progress_message_id: int | None
    run: RunView


def stats_of(value: object) -> dict[str, int]:
    data = json.loads(value) if isinstance(value, str) else dict(value or {})  # type: ignore[call-overload]
    return {k: int(data.get(k, 0)) for k in STAT_KEYS}


def _view(run: ProcessRun, retrying: int = 0, cancelled: int = 0) -> RunView:
    return RunView(
        run.id,
        RunStatus(run.status),
        stats_of(run.stats),
        run.created_at,
        run.finished_at,
        retrying,
        cancelled,
    )


async def _per_project(model: type[Target] | type[Message]) -> dict[str, int]:
    pairs = (
        await model.annotate(n=Count("id")).group_by("project_id").values_list("project_id", "n")
    )
    return {str(project_id): int(n) for project_id, n in pairs}


async def list_projects() -> list[ProjectLine]:
    """Every project by name, with its status and sizes."""
    projects = await Project.all().order_by("name")
    targets, messages = await _per_project(Target), await _per_project(Message)
    return [
        ProjectLine(
            p.name,
            ProjectStatus(p.status),
            targets.get(str(p.id), 0),
            messages.get(str(p.id), 0),
        )
        for p in projects
    ]


async def _job_counts(run_id: uuid.UUID) -> dict[str, int]:
    pairs = (
        await SendJob.filter(run_id=run_id, status__in=(JobStatus.RETRYING, JobStatus.CANCELLED))
        .annotate(n=Count("id"))
        .group_by("status")
        .values_list("status", "n")
    )
    return {str(status): int(n) for status, n in pairs}


async def project_overview(name: str) -> Overview:
    """Targets, messages, status, schedule and the latest run (UnknownProject)."""
    project = await get_project(name)
    targets = (
        await Target.filter(project_id=project.id)
        .order_by("position")
        .values_list("chat", flat=True)
    )
    messages = await Message.filter(project_id=project.id).order_by("position")
    last = await ProcessRun.filter(project_id=project.id).order_by("-created_at").first()
    last_view = None
    if last is not None:
        counts = await _job_counts(last.id)
        last_view = _view(last, counts.get("retrying", 0), counts.get("cancelled", 0))
    return Overview(
        project.name,
        ProjectStatus(project.status),
        project.schedule,
        [str(t) for t in targets],
        list(messages),
        last_view,
    )


async def last_runs(name: str, n: int) -> list[RunView]:
    """The project's latest `n` runs, newest first (UnknownProject)."""
    project = await get_project(name)
    runs = await ProcessRun.filter(project_id=project.id).order_by("-created_at").limit(n)
    return [_view(r) for r in runs]


async def progress(run_id: uuid.UUID) -> Progress | None:
    """The run's current numbers, or None when it is gone (project deleted)."""
    run = await ProcessRun.filter(id=run_id).select_related("project").first()
    if run is None:
        return None
    counts = await _job_counts(run.id)
    return Progress(
        run.project.name,
        run.chat_id,
        run.progress_message_id,
        _view(run, counts.get("retrying", 0), counts.get("cancelled", 0)),
    )


async def reported_runs() -> list[uuid.UUID]:
    """Active runs that have a progress message to keep up to date."""
    ids = await ProcessRun.filter(
        status__in=ACTIVE_RUN, progress_message_id__isnull=False
    ).values_list("id", flat=True)
    return [uuid.UUID(str(i)) for i in ids]


async def failed_jobs(run_id: uuid.UUID, limit: int) -> list[tuple[str, str]]:
    """(target, last error) of failed jobs, one per target, in target order, at most `limit`."""
    pairs = (
        await SendJob.filter(run_id=run_id, status=JobStatus.FAILED)
        .annotate(first=Min("target_no"), error=Max("last_error"))
        .group_by("chat")
        .order_by("first")
        .limit(limit)
        .values_list("chat", "error")
    )
    return [(str(chat), str(error or "")) for chat, error in pairs]


async def messages_of(name: str) -> list[Message]:
    """The project's messages in order (UnknownProject; NoMessages when it has none)."""
    project = await get_project(name)
    messages = await Message.filter(project_id=project.id).order_by("position")
    if not messages:
        raise NoMessages(project.name)
    return list(messages)
