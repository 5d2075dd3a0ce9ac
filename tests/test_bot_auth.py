"""Only HERALD_ADMINS operate; anyone else gets one short refusal, logged and counted."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from herald.bot.keyboards import RunAction
from herald.db.models import Capture, Message, ProcessRun, Project, RunStatus, Target
from herald.sandbox import Behaviour
from tests.botkit import (  # noqa: F401
    ADMIN,
    STRANGER,
    TOKEN,
    Harness,
    harness_fixture,
    harness_on,
)


def refused_total() -> float:
    return REGISTRY.get_sample_value("herald_unauthorized_updates_total") or 0.0


async def snapshot() -> tuple[object, ...]:
    return (
        await Project.all().values_list("name", "status"),
        await Target.all().count(),
        await Message.all().count(),
        await Capture.all().count(),
        await ProcessRun.all().values_list("id", "status"),
    )


async def test_a_stranger_gets_one_short_refusal_and_nothing_changes(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness
    await h.op.ask("/new news")
    before, counted = await snapshot(), refused_total()
    assert await h.stranger.ask("/delete news") == "Sorry, this bot is private."
    for command in ("/new mine", "/message news", "hello", "/targets news @some_channel"):
        h.sandbox.operator_message(STRANGER, command)
    await h.settled()
    assert len(h.stranger.inbox) == 1  # one refusal, not one per message
    assert refused_total() == counted + 5
    assert await snapshot() == before
    lines = [r.getMessage() for r in caplog.records if "not in HERALD_ADMINS" in r.getMessage()]
    assert len(lines) == 5
    assert all(f"user {STRANGER}" in line for line in lines)
    assert TOKEN not in caplog.text


async def test_a_strangers_button_press_is_refused(sqlite_url: str) -> None:
    async with harness_on(sqlite_url, max_attempts=50) as h:
        h.sandbox.add_channel("@stuck_channel", Behaviour(fail_5xx_always=True))
        await h.op.ask("/new news")
        await h.op.ask("/targets news @stuck_channel")
        await h.op.ask("/message news hello")
        await h.op.send("/run news")
        progress = h.op.inbox[-1]
        run = await ProcessRun.get(project__name="news")
        counted = refused_total()
        data = RunAction(action="stop", run_id=run.id).pack()
        query = h.sandbox.operator_callback(STRANGER, progress.message_id, data, chat_id=ADMIN)
        await h.sandbox.wait_for(lambda: query in h.sandbox.answered_callbacks)
        assert h.sandbox.answered_callbacks[query]["text"] == "Not allowed."
        assert refused_total() == counted + 1
        assert (await ProcessRun.get(id=run.id)).status == RunStatus.RUNNING
        await h.op.send("/stop news", replies=2)


async def test_with_no_admins_nobody_operates(sqlite_url: str) -> None:
    async with harness_on(sqlite_url, admins=frozenset()) as h:
        assert await h.op.ask("/new news") == "Sorry, this bot is private."
        assert await Project.all().count() == 0
