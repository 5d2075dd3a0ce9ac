"""/run /stop /pause /resume /status /runs, and the buttons under a progress message."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from herald.bot import args, texts
from herald.bot.keyboards import RunAction, run_buttons
from herald.bot.progress import ProgressReporter
from herald.db import queries
from herald.db.models import ACTIVE_RUN
from herald.scheduler.engine import Engine

#: How many runs /runs lists.
RUNS_LISTED = 5


async def cmd_run(
    message: Message, command: CommandObject, engine: Engine, reporter: ProgressReporter
) -> None:
    name = args.name_only(command)
    async with reporter.replying(name):  # the run's notice waits for this reply
        run = await engine.start_run(name, message.chat.id)
        view = await queries.progress(run.id)
        assert view is not None  # just created
        text = texts.progress(view, datetime.now(UTC))
        markup = run_buttons(run.id, view.run.status)
        sent = await message.answer(text, reply_markup=markup)
        await reporter.attach(run.id, sent.message_id, text, markup)


async def cmd_stop(
    message: Message, command: CommandObject, engine: Engine, reporter: ProgressReporter
) -> None:
    name = args.name_only(command)
    async with reporter.replying(name):  # the stop's notice follows this reply
        run = await engine.stop_run(name)
        view = await queries.progress(run.id)
        await message.answer(texts.stopped(name, view.run.cancelled if view else 0))


async def cmd_pause(
    message: Message, command: CommandObject, engine: Engine, reporter: ProgressReporter
) -> None:
    run = await engine.pause_run(args.name_only(command))
    view = await queries.progress(run.id)
    if view is not None:
        await message.answer(texts.paused(view))
    await reporter.refresh(run.id)  # Resume/Stop buttons now, not at the next tick


async def cmd_resume(
    message: Message, command: CommandObject, engine: Engine, reporter: ProgressReporter
) -> None:
    run = await engine.resume_run(args.name_only(command))
    view = await queries.progress(run.id)
    if view is not None:
        await message.answer(texts.resumed(view))
    await reporter.refresh(run.id)


async def cmd_status(message: Message, command: CommandObject) -> None:
    name = args.name_only(command)
    await message.answer(texts.status(await queries.project_overview(name)))


async def cmd_runs(message: Message, command: CommandObject) -> None:
    name = args.name_only(command)
    await message.answer(texts.runs(name, await queries.last_runs(name, RUNS_LISTED)))


async def cb_run_action(
    query: CallbackQuery, callback_data: RunAction, engine: Engine, reporter: ProgressReporter
) -> None:
    view = await queries.progress(callback_data.run_id)
    if view is None or view.run.status not in ACTIVE_RUN:
        await query.answer(texts.RUN_OVER)
        return
    act = {"pause": engine.pause_run, "resume": engine.resume_run, "stop": engine.stop_run}
    async with reporter.replying(view.project):
        await act[callback_data.action](view.project)
        await query.answer(texts.BUTTON_DONE[callback_data.action])
    await reporter.refresh(callback_data.run_id)


async def cb_unknown(query: CallbackQuery) -> None:
    """A button whose data is not ours (a forged or outdated one): harmless."""
    await query.answer(texts.RUN_OVER)


def build() -> Router:
    router = Router(name=__name__)
    router.message.register(cmd_run, Command("run", ignore_case=True))
    router.message.register(cmd_stop, Command("stop", ignore_case=True))
    router.message.register(cmd_pause, Command("pause", ignore_case=True))
    router.message.register(cmd_resume, Command("resume", ignore_case=True))
    router.message.register(cmd_status, Command("status", ignore_case=True))
    router.message.register(cmd_runs, Command("runs", ignore_case=True))
    router.callback_query.register(cb_run_action, RunAction.filter())
    router.callback_query.register(cb_unknown)
    return router
