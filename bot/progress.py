"""The two messages a run posts in its chat: the progress message and the completion notice.

The progress message (the reply to /run) is edited at most once per `interval`
while its run is active, once more when a button changes the run, and once at
the end; numbers are read from the database, which holds the truth. The
completion notice is a new message (so the operator is notified), posted once
per run: `claim_notice` lets exactly one caller post it, across restarts too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup, ReplyParameters

from herald.bot import texts
from herald.bot.keyboards import run_buttons
from herald.bot.middlewares import rate_limited
from herald.db import queries, transitions
from herald.db.projects import set_progress_message
from herald.scheduler.engine import RunFinished

log = logging.getLogger(__name__)

#: Failed targets listed in a notice; the rest are behind /runs.
NOTICE_FAILURES = 5
_NOTICE_ATTEMPTS = 3


def utcnow() -> datetime:
    return datetime.now(UTC)


def _shown(text: str, markup: InlineKeyboardMarkup | None) -> tuple[str, str]:
    return text, markup.model_dump_json() if markup else ""


class ProgressReporter:
    def __init__(self, bot: Bot, interval: float = 2.0) -> None:
        self.bot = bot
        self.interval = interval
        #: Per project: held while a /run or /stop posts its reply, so the run's notice
        #: (which waits for it) always comes after the reply it belongs to.
        self._replying: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        #: Per run: one edit at a time, each from a fresh read, so an older state
        #: never overwrites a newer one.
        self._editing: defaultdict[uuid.UUID, asyncio.Lock] = defaultdict(asyncio.Lock)
        #: What each progress message shows now (text, buttons), to skip idle edits.
        self._shown: dict[uuid.UUID, tuple[str, str]] = {}
        #: Progress messages that can no longer be edited (deleted by the operator).
        self._gone: set[uuid.UUID] = set()
        self._task: asyncio.Task[None] | None = None
        self.edits = 0
        self.notices = 0

    @contextlib.asynccontextmanager
    async def replying(self, project: str) -> AsyncIterator[None]:
        async with self._replying[project]:
            yield

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="herald-progress")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def attach(
        self, run_id: uuid.UUID, message_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> None:
        """The progress message of a run was posted, showing `text` and `markup`."""
        await set_progress_message(run_id, message_id)
        self._shown[run_id] = _shown(text, markup)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                for run_id in await queries.reported_runs():
                    await self.refresh(run_id)
            except Exception:  # a database hiccup must not end progress reporting
                log.warning("Progress update failed; trying again next tick", exc_info=True)

    async def refresh(self, run_id: uuid.UUID) -> None:
        """Edit the run's progress message to its current state, if that changed."""
        if run_id in self._gone:
            return
        async with self._editing[run_id]:
            view = await queries.progress(run_id)
            if view is None or view.chat_id is None or view.progress_message_id is None:
                return
            text = texts.progress(view, utcnow())
            markup = run_buttons(run_id, view.run.status)
            shown = _shown(text, markup)
            if self._shown.get(run_id) == shown:
                return
            try:
                with rate_limited(priority=True):
                    await self.bot.edit_message_text(
                        text=text,
                        chat_id=view.chat_id,
                        message_id=view.progress_message_id,
                        reply_markup=markup,
                    )
            except TelegramBadRequest as exc:
                if "not modified" not in exc.message:  # same content: already shown
                    log.warning("Progress message of run %s can't be edited: %s", run_id, exc)
                    self._gone.add(run_id)
                    return
            except (TelegramRetryAfter, TelegramNetworkError, TelegramServerError) as exc:
                log.info("Progress edit of run %s postponed: %s", run_id, exc)
                return
            self._shown[run_id] = shown
            self.edits += 1

    async def on_run_finished(self, event: RunFinished) -> None:
        """The engine's callback: the last edit, then the notice (exactly once per run)."""
        async with self.replying(event.project_name):
            await self.refresh(event.run_id)
            self._shown.pop(event.run_id, None)
            self._gone.discard(event.run_id)
            self._editing.pop(event.run_id, None)
            if event.chat_id is None or not await transitions.claim_notice(event.run_id, utcnow()):
                return
            await self._post_notice(event.run_id, event.chat_id)

    async def _post_notice(self, run_id: uuid.UUID, chat_id: int) -> None:
        view = await queries.progress(run_id)
        if view is None:
            return
        failures = await queries.failed_jobs(run_id, NOTICE_FAILURES + 1)
        text = texts.notice(view, failures[:NOTICE_FAILURES], len(failures) > NOTICE_FAILURES)
        reply = None
        if view.progress_message_id is not None:
            reply = ReplyParameters(
                message_id=view.progress_message_id, allow_sending_without_reply=True
            )
        for attempt in range(1, _NOTICE_ATTEMPTS + 1):
            try:
                with rate_limited(priority=True):
                    await self.bot.send_message(chat_id, text, reply_parameters=reply)
                self.notices += 1
                return
            except TelegramRetryAfter as exc:
                await asyncio.sleep(exc.retry_after)
            except TelegramServerError as exc:  # Telegram said it failed: nothing was posted
                log.warning("Notice of run %s not posted (attempt %d): %s", run_id, attempt, exc)
                await asyncio.sleep(attempt)
            except TelegramNetworkError as exc:
                # The notice may have been posted; a second try could post it twice.
                log.error("Completion notice of run %s may be lost: %s", run_id, exc)
                return
        log.error("Completion notice of run %s could not be posted", run_id)
