"""Inline keyboards: the Pause/Stop or Resume/Stop buttons under a progress message."""

from __future__ import annotations

import uuid
from typing import Literal

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from herald.bot import texts
from herald.db.models import RunStatus


class RunAction(CallbackData, prefix="run"):
    """A button of one run; the run id makes a stale button harmless ("this run is over")."""

    action: Literal["pause", "resume", "stop"]
    run_id: uuid.UUID


def run_buttons(run_id: uuid.UUID, status: RunStatus) -> InlineKeyboardMarkup | None:
    """Pause/Stop while running, Resume/Stop while paused, nothing once the run ended."""
    if status == RunStatus.RUNNING:
        actions = ("pause", "stop")
    elif status == RunStatus.PAUSED:
        actions = ("resume", "stop")
    else:
        return None
    builder = InlineKeyboardBuilder()
    for action in actions:
        builder.button(
            text=texts.BUTTONS[action], callback_data=RunAction(action=action, run_id=run_id)
        )
    return builder.as_markup()
