"""Pending `/message NAME` captures: the next message an operator sends is appended.

They live in the `captures` table rather than in aiogram's FSM storage (memory
or Redis only) so a capture survives a restart of the daemon. One per chat; it
belongs to the operator who asked, and expires after `CAPTURE_TTL` so a message
sent days later is not broadcast by surprise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from herald.db.models import Capture, Project
from herald.db.projects import append_to, get_project
from herald.db.sql import transaction

CAPTURE_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class Captured:
    project: str
    #: 1-based position of the new message in the project.
    number: int
    kind: str


async def start_capture(chat_id: int, user_id: int, name: str) -> Project:
    """The next message `user_id` sends in `chat_id` goes to project `name` (replaces any)."""
    project = await get_project(name)
    async with transaction() as tx:
        await Capture.filter(chat_id=chat_id).using_db(tx).delete()
        await Capture.create(chat_id=chat_id, project_id=project.id, user_id=user_id, using_db=tx)
    return project


async def cancel_capture(chat_id: int) -> str | None:
    """Abandon the chat's capture; the project's name, or None when none was pending."""
    capture = await Capture.filter(chat_id=chat_id).select_related("project").first()
    if capture is None:
        return None
    await Capture.filter(chat_id=chat_id).delete()
    return capture.project.name


async def pending_capture(chat_id: int, user_id: int, now: datetime | None = None) -> str | None:
    """The project this user's next message in this chat goes to, if a capture is pending."""
    capture = (
        await Capture.filter(chat_id=chat_id, user_id=user_id).select_related("project").first()
    )
    if capture is None:
        return None
    if _expired(capture, now):
        await Capture.filter(chat_id=chat_id, created_at=capture.created_at).delete()
        return None
    return capture.project.name


def _expired(capture: Capture, now: datetime | None) -> bool:
    return capture.created_at + CAPTURE_TTL < (now or datetime.now(UTC))


async def take_capture(
    chat_id: int,
    user_id: int,
    kind: str,
    origin_chat_id: int | None,
    origin_message_id: int | None,
    content: dict[str, Any],
    now: datetime | None = None,
) -> Captured | None:
    """Consume the capture and append the message, in one transaction; None if none pending."""
    async with transaction() as tx:
        capture = (
            await Capture.filter(chat_id=chat_id, user_id=user_id)
            .select_for_update()
            .using_db(tx)
            .first()
        )
        if capture is None:
            return None
        deleted = await Capture.filter(chat_id=chat_id, user_id=user_id).using_db(tx).delete()
        if _expired(capture, now):
            return None  # the stale capture is gone; this message is not taken
        project = (
            await Project.filter(id=capture.project_id).select_for_update().using_db(tx).first()
        )
        if not deleted or project is None:
            return None
        message = await append_to(project, kind, origin_chat_id, origin_message_id, content, tx)
    return Captured(project.name, message.position + 1, kind)
