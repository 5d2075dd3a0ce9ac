"""Runs seen from the operator's chat: the progress message, its buttons, the one notice."""

from __future__ import annotations

import time
import uuid

from herald.bot.keyboards import RunAction
from herald.db.models import ProcessRun, Project, ProjectStatus, RunStatus
from herald.sandbox import Behaviour, SentMessage
from herald.scheduler.engine import RunFinished
from tests.botkit import (  # noqa: F401
    ADMIN,
    Harness,
    harness_both_fixture,
    harness_fixture,
    harness_on,
)


def buttons(message: SentMessage) -> list[str]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [b["text"] for row in rows for b in row]


def notices(h: Harness, project: str) -> list[SentMessage]:
    return [
        m
        for m in h.op.inbox
        if (m.text or "").startswith(("✅", "⏹", "❌"))
        and (m.text or "").split(":")[0].endswith(f" {project}")
    ]


async def setup(h: Harness, chats: list[str], messages: int = 1, name: str = "news") -> None:
    await h.op.ask(f"/new {name}")
    await h.op.ask(f"/targets {name} " + " ".join(chats))
    for i in range(messages):
        await h.op.ask(f"/message {name} message {i + 1}")


async def test_run_edits_progress_and_posts_exactly_one_notice(sqlite_url: str) -> None:
    async with harness_on(sqlite_url, rate_limit=40, progress_interval=0.3) as h:
        chats = [f"@channel_{i:03d}" for i in range(30)]
        for chat in chats:
            h.sandbox.add_channel(chat)
        h.sandbox.add_channel("@gone_channel", Behaviour(forbidden=True))
        h.sandbox.add_channel("@flaky_channel", Behaviour(fail_5xx=1))
        await setup(h, [*chats, "@gone_channel", "@flaky_channel"], messages=2)
        started = time.monotonic()
        await h.op.send("/run news", replies=2)
        elapsed = time.monotonic() - started
        progress, notice = h.op.inbox[-2:]
        # The progress message went through intermediate states and ended final, no buttons.
        assert len(progress.history) >= 2
        assert len(progress.history) <= elapsed / 0.3 + 3
        assert progress.text.splitlines()[0] == "✅ news — completed"
        assert "64/64 jobs done" in progress.text
        assert progress.reply_markup is None
        assert buttons(SentMessage(0, 0, "", 0, reply_markup=progress.history[0].reply_markup)) == [
            "⏸ Pause",
            "⏹ Stop",
        ]
        lines = notice.text.splitlines()
        assert lines[0] == "✅ news: completed 64/64"
        assert lines[1] == "Sent: 62 · Errors: 2"
        assert lines[2].startswith("Duration: ")
        assert lines[3:] == [
            "Failed targets:",
            "• @gone_channel — Forbidden: bot was kicked from the channel chat",
        ]
        run = await ProcessRun.get(project__name="news")
        assert run.notified_at is not None
        # The engine reporting the same end again posts nothing more.
        event = RunFinished(run.id, "news", RunStatus.COMPLETED, dict(run.stats), ADMIN)
        await h.app.reporter.on_run_finished(event)
        await h.restart()
        await h.op.ask("/status news")
        assert len(notices(h, "news")) == 1


async def test_notice_missed_while_down_is_posted_at_start(harness_both: Harness) -> None:
    h = harness_both
    h.sandbox.add_channel("@first_channel")
    await setup(h, ["@first_channel"])
    await h.op.send("/run news", replies=2)
    await h.stop()
    await ProcessRun.all().update(notified_at=None)  # as if it ended during a restart
    await h.start()
    await h.sandbox.wait_for(lambda: len(notices(h, "news")) == 2)
    await h.restart()
    await h.op.ask("/status news")
    assert len(notices(h, "news")) == 2


async def test_buttons_pause_resume_and_stop(sqlite_url: str) -> None:
    async with harness_on(sqlite_url, max_attempts=50) as h:
        h.sandbox.add_channel("@stuck_channel", Behaviour(fail_5xx_always=True))
        await setup(h, ["@stuck_channel"])
        await h.op.send("/run news")
        progress = h.op.inbox[-1]
        assert buttons(progress) == ["⏸ Pause", "⏹ Stop"]
        run = await ProcessRun.get(project__name="news")

        async def press(action: str) -> str:
            data = RunAction(action=action, run_id=run.id).pack()  # type: ignore[arg-type]
            query = h.sandbox.operator_callback(ADMIN, progress.message_id, data)
            await h.sandbox.wait_for(lambda: query in h.sandbox.answered_callbacks)
            return h.sandbox.answered_callbacks[query]["text"]

        assert await press("pause") == "Paused."
        await h.sandbox.wait_for(lambda: buttons(progress) == ["▶️ Resume", "⏹ Stop"])
        assert (await Project.get(name="news")).status == ProjectStatus.PAUSED
        assert await press("resume") == "Resumed."
        await h.sandbox.wait_for(lambda: buttons(progress) == ["⏸ Pause", "⏹ Stop"])
        assert await press("stop") == "Stopping…"
        await h.sandbox.wait_for(lambda: len(notices(h, "news")) == 1)
        assert notices(h, "news")[0].text.splitlines()[0] == "⏹ news: stopped 0/1"
        assert progress.reply_markup is None
        # A button of a finished run does nothing but say so.
        assert await press("resume") == "This run is over."
        assert (await ProcessRun.get(id=run.id)).status == RunStatus.STOPPED
        assert (await Project.get(name="news")).status == ProjectStatus.STOPPED


async def test_forged_or_foreign_buttons_are_harmless(harness: Harness) -> None:
    h = harness
    await h.op.ask("/help")
    message_id = h.op.inbox[-1].message_id
    for data in ("run:pause:not-a-uuid", f"run:stop:{uuid.uuid4().hex}", "something else"):
        query = h.sandbox.operator_callback(ADMIN, message_id, data)
        await h.sandbox.wait_for(lambda q=query: q in h.sandbox.answered_callbacks)
        assert h.sandbox.answered_callbacks[query]["text"] == "This run is over."


async def test_stop_replies_then_the_notice_follows(sqlite_url: str) -> None:
    async with harness_on(sqlite_url, rate_limit=10) as h:
        chats = [f"@channel_{i:03d}" for i in range(40)]
        for chat in chats:
            h.sandbox.add_channel(chat)
        await setup(h, chats)
        await h.op.send("/run news")
        await h.sandbox.wait_for(lambda: len(h.sandbox.received(chats[2])) == 1)
        reply, notice = await h.op.send("/stop news", replies=2)
        assert reply.startswith("⏹ Stopped news: ")
        cancelled = int(reply.split(": ")[1].split()[0])
        delivered = sum(len(h.sandbox.received(c)) for c in chats)
        assert cancelled + delivered == 40
        assert notice.splitlines()[0] == f"⏹ news: stopped {delivered}/40"
        assert f"Cancelled: {cancelled} job(s), never sent" in notice
        await h.op.ask("/status news")
        assert sum(len(h.sandbox.received(c)) for c in chats) == delivered


async def test_status_and_runs_show_the_latest_runs(harness: Harness) -> None:
    h = harness
    h.sandbox.add_channel("@first_channel")
    await setup(h, ["@first_channel"])
    assert (await h.op.ask("/status news")).endswith("No runs yet; /run news starts one.")
    assert "news has not run yet" in await h.op.ask("/runs news")
    for _ in range(2):
        await h.op.send("/run news", replies=2)
    status = await h.op.ask("/status news")
    assert status.splitlines()[0] == "news: stopped"
    assert status.splitlines()[1].startswith("Latest run: completed 1/1 (1 sent, 0 errors)")
    runs = (await h.op.ask("/runs news")).splitlines()
    assert runs[0] == "Last runs of news:"
    assert len(runs) == 3
    assert all(line.startswith("• completed 1/1") for line in runs[1:])
