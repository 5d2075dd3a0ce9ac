"""The project service and reads behind the commands, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from herald import errors
from herald.db import captures, projects, queries, transitions
from herald.db.chats import BadChat, Rejection, normalise_chat
from herald.db.models import JobStatus, Message, ProcessRun, Project, ProjectStatus, SendJob


@pytest.mark.parametrize(
    ("raw", "chat"),
    [
        ("@news_channel", "@news_channel"),
        ("@News_Channel", "@news_channel"),
        ("@abcde", "@abcde"),
        ("@" + "a" * 32, "@" + "a" * 32),
        ("t.me/news_channel", "@news_channel"),
        ("https://t.me/news_channel", "@news_channel"),
        ("http://telegram.me/news_channel/", "@news_channel"),
        ("https://t.me/news_channel/123", "@news_channel"),
        ("https://t.me/s/news_channel", "@news_channel"),
        ("T.ME/News_Channel", "@news_channel"),
        ("-1001234567890", "-1001234567890"),
        ("-1009223372036854775", "-1009223372036854775"),
    ],
)
def test_chats_are_normalised(raw: str, chat: str) -> None:
    assert normalise_chat(raw) == chat


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("news", Rejection.NOT_A_CHAT),
        ("", Rejection.NOT_A_CHAT),
        ("@abcd", Rejection.BAD_USERNAME),
        ("@" + "a" * 33, Rejection.BAD_USERNAME),
        ("@1news", Rejection.BAD_USERNAME),
        ("@news_", Rejection.BAD_USERNAME),
        ("@news__channel", Rejection.BAD_USERNAME),
        ("@новости", Rejection.BAD_USERNAME),
        ("@", Rejection.BAD_USERNAME),
        ("-42", Rejection.BAD_ID),
        ("1001234567", Rejection.BAD_ID),
        ("-100", Rejection.BAD_ID),
        ("-100" + "9" * 17, Rejection.BAD_ID),
        ("https://t.me/+AbCdEf", Rejection.INVITE_LINK),
        ("t.me/joinchat/AbCdEf", Rejection.INVITE_LINK),
        ("https://t.me/c/1234567890/5", Rejection.PRIVATE_LINK),
        ("https://t.me/", Rejection.BAD_USERNAME),
    ],
)
def test_non_chats_are_rejected_with_a_reason(raw: str, reason: Rejection) -> None:
    with pytest.raises(BadChat) as caught:
        normalise_chat(raw)
    assert caught.value.reason == reason


async def test_create_and_get(db: str) -> None:
    project = await projects.create_project("news", created_by=7)
    assert project.status == ProjectStatus.STOPPED
    assert (await projects.get_project("news")).id == project.id
    with pytest.raises(errors.DuplicateName):
        await projects.create_project("news", created_by=7)
    for bad in ("", "News", "a b", "x" * 65, "news\n", "ñ"):
        with pytest.raises(errors.BadName):
            await projects.create_project(bad, created_by=7)
    with pytest.raises(errors.UnknownProject):
        await projects.get_project("ghost")
    assert await Project.all().count() == 1


async def test_targets_keep_their_order_and_ignore_duplicates(db: str) -> None:
    await projects.create_project("news", None)
    first = await projects.add_targets("news", ["@alpha_chan", "@beta_chan", "@alpha_chan"])
    assert (first.added, first.duplicates) == (["@alpha_chan", "@beta_chan"], ["@alpha_chan"])
    await projects.remove_targets("news", ["@alpha_chan"])
    second = await projects.add_targets("news", ["@gamma_chan", "@beta_chan", "nope"])
    assert (second.added, second.duplicates) == (["@gamma_chan"], ["@beta_chan"])
    assert second.rejected == [("nope", Rejection.NOT_A_CHAT)]
    view = await queries.project_overview("news")
    assert view.targets == ["@beta_chan", "@gamma_chan"]


async def test_concurrent_appends_keep_positions_contiguous(db: str) -> None:
    await projects.create_project("news", None)
    await asyncio.gather(
        *(projects.add_message("news", "text", None, None, {"text": str(i)}) for i in range(8))
    )
    positions = await Message.all().order_by("position").values_list("position", flat=True)
    assert positions == list(range(8))


async def test_active_runs_protect_their_project(db: str) -> None:
    await projects.create_project("news", None)
    await projects.add_targets("news", ["@alpha_chan"])
    await projects.add_message("news", "text", None, None, {"text": "hi"})
    run = await transitions.start_run("news", 1, datetime.now(UTC))
    with pytest.raises(errors.ProjectActive):
        await projects.clear_messages("news")
    with pytest.raises(errors.ProjectActive):
        await projects.delete_project("news")
    assert await Message.all().count() == 1
    await transitions.stop_run(run.id, [], datetime.now(UTC))
    assert await projects.clear_messages("news") == 1
    await projects.delete_project("news")
    assert await ProcessRun.all().count() == 0


async def test_a_capture_is_taken_once(db: str) -> None:
    await projects.create_project("news", None)
    await captures.start_capture(10, 7, "news")
    assert await captures.pending_capture(10, 7) == "news"
    assert await captures.pending_capture(10, 8) is None  # another user in the same chat
    taken = await asyncio.gather(
        *(captures.take_capture(10, 7, "text", 10, i, {"text": str(i)}) for i in range(5))
    )
    assert [t for t in taken if t is not None] == [captures.Captured("news", 1, "text")]
    assert await Message.all().count() == 1
    assert await captures.cancel_capture(10) is None


async def test_failed_jobs_one_per_target_in_order(db: str) -> None:
    await projects.create_project("news", None)
    await projects.add_targets("news", ["@alpha_chan", "@beta_chan", "@gamma_chan"])
    for i in range(2):
        await projects.add_message("news", "text", None, None, {"text": str(i)})
    run = await transitions.start_run("news", 1, datetime.now(UTC))
    await SendJob.filter(run_id=run.id, chat__in=["@gamma_chan", "@alpha_chan"]).update(
        status=JobStatus.FAILED, last_error="Forbidden: bot was kicked"
    )
    assert await queries.failed_jobs(run.id, 5) == [
        ("@alpha_chan", "Forbidden: bot was kicked"),
        ("@gamma_chan", "Forbidden: bot was kicked"),
    ]
    assert await queries.failed_jobs(run.id, 1) == [("@alpha_chan", "Forbidden: bot was kicked")]
    view = await queries.progress(run.id)
    assert view is not None
    assert view.run.stats == {
        "total_jobs": 6,
        "completed_jobs": 0,
        "success_count": 0,
        "error_count": 0,
    }
    assert await queries.reported_runs() == []
    await projects.set_progress_message(run.id, 99)
    assert await queries.reported_runs() == [run.id]
