"""Tortoise models for DESIGN.md contract 4.

The database is the truth: the scheduler only holds a small window of due jobs,
so every job has a row that tells what happened to it.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ProjectStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    PAUSED = "paused"
    FAILED = "failed"


class RunStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"


ACTIVE_RUN = (RunStatus.RUNNING, RunStatus.PAUSED)


class JobStatus(StrEnum):
    #: Waits for the previous message to the same target to become final (invariant 9).
    WAITING = "waiting"
    #: Due at `due_at`; not in the scheduler yet.
    PENDING = "pending"
    #: Waits for its backoff to end (`due_at`); not counted (invariant 2).
    RETRYING = "retrying"
    #: Claimed into the scheduler's window; sending or about to.
    QUEUED = "queued"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: Cancelled by a manual stop; never counted as completed.
    CANCELLED = "cancelled"


FINAL_JOB = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
OPEN_JOB = (JobStatus.WAITING, JobStatus.PENDING, JobStatus.RETRYING, JobStatus.QUEUED)


def empty_stats(total: int) -> dict[str, int]:
    """The `stats` JSON of contract 4, exactly these four keys."""
    return {"total_jobs": total, "completed_jobs": 0, "success_count": 0, "error_count": 0}


class Project(Model):
    id = fields.UUIDField(primary_key=True)
    #: 1-64 of a-z 0-9 _ -
    name = fields.CharField(max_length=64, unique=True)
    status = fields.CharEnumField(ProjectStatus, max_length=16, default=ProjectStatus.STOPPED)
    #: ISO 8601 datetime or a 5-field cron expression; None when not scheduled.
    schedule = fields.CharField(max_length=128, null=True)
    #: Chat that scheduled runs report to.
    schedule_chat_id = fields.BigIntField(null=True)
    created_by = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    targets: fields.ReverseRelation[Target]
    messages: fields.ReverseRelation[Message]
    runs: fields.ReverseRelation[ProcessRun]

    class Meta:
        table = "projects"


class Target(Model):
    id = fields.BigIntField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="targets", on_delete=fields.CASCADE
    )
    #: As the operator wrote it, normalised: "@username" or "-100…" (a 64-bit id).
    chat = fields.CharField(max_length=64)
    position = fields.IntField()
    added_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "targets"
        unique_together = (("project", "chat"),)


class Message(Model):
    id = fields.BigIntField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="messages", on_delete=fields.CASCADE
    )
    position = fields.IntField()
    #: text, photo, video, document, audio, animation, voice, sticker
    kind = fields.CharField(max_length=16)
    #: Where the operator sent it: copyMessage from there is the faithful path.
    origin_chat_id = fields.BigIntField(null=True)
    origin_message_id = fields.BigIntField(null=True)
    #: The content (text and entities, or file id, caption and entities) for when the
    #: origin is gone.
    content = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "messages"
        ordering = ("position",)


class ProcessRun(Model):
    id = fields.UUIDField(primary_key=True)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name="runs", on_delete=fields.CASCADE
    )
    status = fields.CharEnumField(RunStatus, max_length=16, default=RunStatus.RUNNING)
    #: Exactly {"total_jobs", "completed_jobs", "success_count", "error_count"}.
    stats = fields.JSONField(default=dict)
    #: Where the progress message and the completion notice go.
    chat_id = fields.BigIntField(null=True)
    progress_message_id = fields.BigIntField(null=True)
    #: Set once the completion notice was posted, so a restart never posts it twice.
    notified_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    finished_at = fields.DatetimeField(null=True)

    jobs: fields.ReverseRelation[SendJob]

    class Meta:
        table = "process_runs"


class SendJob(Model):
    id = fields.BigIntField(primary_key=True)
    run: fields.ForeignKeyRelation[ProcessRun] = fields.ForeignKeyField(
        "models.ProcessRun", related_name="jobs", on_delete=fields.CASCADE
    )
    #: The target as it was when the run started (a migration may update it).
    chat = fields.CharField(max_length=64)
    #: Position of the target in the project; with `seq` it orders a target's messages.
    target_no = fields.IntField()
    message: fields.ForeignKeyNullableRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name=None, null=True, on_delete=fields.SET_NULL
    )
    #: The message's position in the project.
    seq = fields.IntField()
    status = fields.CharEnumField(JobStatus, max_length=16, default=JobStatus.PENDING)
    #: Attempts made; a 429 is not an attempt.
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    sent_message_id = fields.BigIntField(null=True)
    due_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "send_jobs"
        indexes = (("run_id", "status", "due_at"), ("run_id", "target_no", "seq"))


class Capture(Model):
    """A pending message capture: the next message in this chat is appended to the project.

    aerich escapes a slash in comments into invalid Python in SQLite migrations,
    so docstrings and field comments of models avoid slashes.
    """

    chat_id = fields.BigIntField(primary_key=True, generated=False)
    project: fields.ForeignKeyRelation[Project] = fields.ForeignKeyField(
        "models.Project", related_name=None, on_delete=fields.CASCADE
    )
    user_id = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "captures"
