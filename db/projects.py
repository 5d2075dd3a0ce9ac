"""Projects and what they hold (targets, messages): the edits operators make with commands.

Status changes belong to `db/transitions.py`; this module only creates projects
(status `stopped`) and edits their content. Edits that would pull the ground
from under an active run (clearing messages, deleting the project) are refused
with `ProjectActive`; they lock the project row first so they cannot interleave
with the guarded `UPDATE projects SET status = 'running'` that starts a run.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tortoise.exceptions import IntegrityError

from herald.db.chats import BadChat, Rejection, normalise_chat
from herald.db.models import ACTIVE_RUN, Message, ProcessRun, Project, ProjectStatus, Target
from herald.db.sql import transaction
from herald.errors import BadName, DuplicateName, ProjectActive, UnknownProject

NAME = re.compile(r"[a-z0-9_-]{1,64}")
_ACTIVE_PROJECT = (ProjectStatus.RUNNING, ProjectStatus.PAUSED)


@dataclass(frozen=True)
class TargetsAdded:
    project: str
    #: Normalised chats added, in the order given.
    added: list[str] = field(default_factory=list)
    #: Normalised chats the project had already (or given twice).
    duplicates: list[str] = field(default_factory=list)
    #: (as typed, why) for what is not a target.
    rejected: list[tuple[str, Rejection]] = field(default_factory=list)


@dataclass(frozen=True)
class TargetsRemoved:
    project: str
    removed: list[str] = field(default_factory=list)
    #: Valid chats the project did not have.
    missing: list[str] = field(default_factory=list)
    rejected: list[tuple[str, Rejection]] = field(default_factory=list)


def valid_name(name: str) -> bool:
    return NAME.fullmatch(name) is not None


async def create_project(name: str, created_by: int | None) -> Project:
    """A new, empty project with status `stopped`; BadName, DuplicateName."""
    if not valid_name(name):
        raise BadName(name)
    try:
        return await Project.create(name=name, created_by=created_by, status=ProjectStatus.STOPPED)
    except IntegrityError:
        raise DuplicateName(name) from None


async def get_project(name: str) -> Project:
    """The project called `name`; UnknownProject (a name breaking the rules cannot exist)."""
    project = await Project.get_or_none(name=name) if valid_name(name) else None
    if project is None:
        raise UnknownProject(name)
    return project


async def locked(name: str, tx: Any) -> Project:
    """The project row, locked until the transaction ends (Postgres; SQLite serialises)."""
    if not valid_name(name):
        raise UnknownProject(name)
    project = await Project.filter(name=name).select_for_update().using_db(tx).first()
    if project is None:
        raise UnknownProject(name)
    return project


async def _refuse_if_active(project: Project, tx: Any) -> None:
    runs = ProcessRun.filter(project_id=project.id, status__in=ACTIVE_RUN).using_db(tx)
    if project.status in _ACTIVE_PROJECT or await runs.exists():
        raise ProjectActive(project.name)


def _normalise_all(raw_chats: Iterable[str]) -> tuple[list[str], list[tuple[str, Rejection]]]:
    chats, rejected = [], []
    for raw in raw_chats:
        try:
            chats.append(normalise_chat(raw))
        except BadChat as exc:
            rejected.append((raw, exc.reason))
    return chats, rejected


async def add_targets(name: str, raw_chats: Iterable[str]) -> TargetsAdded:
    """Add the valid chats the project lacks; report duplicates and rejections."""
    chats, rejected = _normalise_all(raw_chats)
    async with transaction() as tx:
        project = await locked(name, tx)
        existing = set(
            await Target.filter(project_id=project.id).using_db(tx).values_list("chat", flat=True)
        )
        added: list[str] = []
        duplicates: list[str] = []
        for chat in chats:
            (duplicates if chat in existing else added).append(chat)
            existing.add(chat)
        if added:
            last = await (
                Target.filter(project_id=project.id)
                .using_db(tx)
                .order_by("-position")
                .first()
                .values_list("position", flat=True)
            )
            start = -1 if last is None else int(last)
            rows = [
                Target(project_id=project.id, chat=chat, position=start + 1 + i)
                for i, chat in enumerate(added)
            ]
            await Target.bulk_create(rows, using_db=tx)
    return TargetsAdded(project.name, added, duplicates, rejected)


async def remove_targets(name: str, raw_chats: Iterable[str]) -> TargetsRemoved:
    """Remove the given chats; a run in progress keeps its own copy of its targets."""
    chats, rejected = _normalise_all(raw_chats)
    wanted = list(dict.fromkeys(chats))
    async with transaction() as tx:
        project = await locked(name, tx)
        present = set(
            await Target.filter(project_id=project.id, chat__in=wanted)
            .using_db(tx)
            .values_list("chat", flat=True)
        )
        if present:
            await Target.filter(project_id=project.id, chat__in=present).using_db(tx).delete()
    removed = [c for c in wanted if c in present]
    missing = [c for c in wanted if c not in present]
    return TargetsRemoved(project.name, removed, missing, rejected)


async def add_message(
    name: str,
    kind: str,
    origin_chat_id: int | None,
    origin_message_id: int | None,
    content: dict[str, Any],
) -> Message:
    """Append a message; positions stay 0..n-1 (the engine orders sends by them)."""
    async with transaction() as tx:
        project = await locked(name, tx)
        return await append_to(project, kind, origin_chat_id, origin_message_id, content, tx)


async def append_to(
    project: Project,
    kind: str,
    origin_chat_id: int | None,
    origin_message_id: int | None,
    content: dict[str, Any],
    tx: Any,
) -> Message:
    """Append inside `tx`, with the project row already locked by the caller."""
    position = await Message.filter(project_id=project.id).using_db(tx).count()
    return await Message.create(
        project_id=project.id,
        position=position,
        kind=kind,
        origin_chat_id=origin_chat_id,
        origin_message_id=origin_message_id,
        content=content,
        using_db=tx,
    )


async def clear_messages(name: str) -> int:
    """Remove every message; ProjectActive while a run is active. Returns how many."""
    async with transaction() as tx:
        project = await locked(name, tx)
        await _refuse_if_active(project, tx)
        messages = Message.filter(project_id=project.id).using_db(tx)
        # Counted apart: SQLite's row count of a DELETE includes the SET NULL it cascades.
        count = await messages.count()
        await messages.delete()
        return count


async def delete_project(name: str) -> None:
    """Delete the project with its targets, messages and runs; ProjectActive while active."""
    async with transaction() as tx:
        project = await locked(name, tx)
        await _refuse_if_active(project, tx)
        await Project.filter(id=project.id).using_db(tx).delete()


async def set_progress_message(run_id: uuid.UUID, message_id: int) -> None:
    """Remember the run's progress message, so a restarted daemon keeps editing it."""
    await ProcessRun.filter(id=run_id).update(progress_message_id=message_id)
