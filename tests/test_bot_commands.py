"""Every project and message command through the real dispatcher, over HTTP, like Telegram.

Each refusal is one reply that says what to do instead, and changes nothing.
"""

from __future__ import annotations

import pytest

from herald.db.models import Capture, Message, Project, ProjectStatus, Target
from herald.sandbox import Behaviour
from tests.botkit import (  # noqa: F401
    ADMIN,
    Harness,
    harness_both_fixture,
    harness_fixture,
    harness_on,
)


async def test_help_and_start_list_the_commands(harness: Harness) -> None:
    for command in ("/help", "/start"):
        reply = await harness.op.ask(command)
        assert "/new NAME" in reply
        assert "/run NAME" in reply


async def test_command_menu_is_set(harness: Harness) -> None:
    menu = next(iter(harness.sandbox.commands.values()))
    assert {"new", "targets", "run", "stop", "help"} <= {c["command"] for c in menu}


async def test_unknown_command_gets_a_short_hint(harness: Harness) -> None:
    reply = await harness.op.ask("/frobnicate news")
    assert "Unknown command" in reply
    assert "/help" in reply


async def test_plain_text_without_capture_gets_a_hint(harness: Harness) -> None:
    reply = await harness.op.ask("hello bot")
    assert "/message NAME" in reply
    assert await Message.all().count() == 0


async def test_new_creates_a_stopped_project(harness_both: Harness) -> None:
    reply = await harness_both.op.ask("/new news")
    assert "Created news" in reply
    project = await Project.get(name="news")
    assert project.status == ProjectStatus.STOPPED
    assert project.created_by == ADMIN


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/new", "Usage: /new NAME"),
        ("/new a b", "Usage: /new NAME"),
        ("/new News!", "can't be a project name"),
        ("/new " + "x" * 65, "can't be a project name"),
        ("/new проект", "can't be a project name"),
    ],
)
async def test_new_refuses_bad_names(harness: Harness, command: str, expected: str) -> None:
    reply = await harness.op.ask(command)
    assert expected in reply
    assert await Project.all().count() == 0


async def test_new_refuses_a_duplicate(harness: Harness) -> None:
    await harness.op.ask("/new news")
    reply = await harness.op.ask("/new news")
    assert "exists already" in reply
    assert await Project.all().count() == 1


async def test_targets_reports_added_duplicate_and_rejected(harness_both: Harness) -> None:
    op = harness_both.op
    await op.ask("/new news")
    await op.ask("/targets news @first_channel")
    reply = await op.ask(
        "/targets news @Second_Channel, t.me/third_channel https://t.me/first_channel"
        " -1001234567890 @x https://t.me/+invite -42 @second_channel"
    )
    lines = reply.splitlines()
    assert lines[0] == ("news: 3 target(s) added: @second_channel, @third_channel, -1001234567890")
    assert lines[1] == "Already there: @first_channel, @second_channel"
    assert "“@x” — usernames are 5-32" in reply
    assert "“https://t.me/+invite” — an invite link" in reply
    assert "“-42” — channel and group ids start with -100" in reply
    chats = (
        await Target.filter(project__name="news")
        .order_by("position")
        .values_list("chat", flat=True)
    )
    assert chats == ["@first_channel", "@second_channel", "@third_channel", "-1001234567890"]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/targets", "Usage: /targets NAME CHAT"),
        ("/targets news", "Usage: /targets NAME CHAT"),
        ("/targets ghost @some_channel", "There is no project “ghost”"),
        ("/untarget", "Usage: /untarget NAME CHAT"),
        ("/untarget ghost @some_channel", "There is no project “ghost”"),
    ],
)
async def test_targets_refusals(harness: Harness, command: str, expected: str) -> None:
    await harness.op.ask("/new news")
    reply = await harness.op.ask(command)
    assert expected in reply
    assert await Target.all().count() == 0


async def test_untarget_removes_and_reports_missing(harness: Harness) -> None:
    op = harness.op
    await op.ask("/new news")
    await op.ask("/targets news @first_channel @second_channel")
    reply = await op.ask("/untarget news t.me/first_channel @never_added nonsense")
    assert reply.splitlines()[0] == "news: 1 target(s) removed: @first_channel"
    assert "Not a target of news: @never_added" in reply
    assert "“nonsense” — not a @username" in reply
    assert await Target.all().values_list("chat", flat=True) == ["@second_channel"]


async def test_show_and_projects(harness: Harness) -> None:
    op = harness.op
    assert "No projects yet" in await op.ask("/projects")
    await op.ask("/new news")
    await op.ask("/new alerts")
    await op.ask("/targets news @first_channel")
    await op.ask("/message news Hello world")
    show = await op.ask("/show news")
    assert show.splitlines()[0] == "news — stopped"
    assert "Targets (1): @first_channel" in show
    assert "1. text “Hello world”" in show
    assert "Last run: never" in show
    listing = await op.ask("/projects")
    assert listing.splitlines() == [
        "Projects:",
        "• alerts — stopped · 0 targets · 0 messages",
        "• news — stopped · 1 target · 1 message",
    ]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/show", "Usage: /show NAME"),
        ("/show ghost", "There is no project “ghost”. See /projects or /new ghost"),
        ("/show Ghost!", "There is no project “Ghost!”. See /projects."),
        ("/projects all", "Usage: /projects"),
        ("/delete", "Usage: /delete NAME"),
        ("/delete ghost", "There is no project “ghost”"),
        ("/status ghost", "There is no project “ghost”"),
        ("/runs ghost", "There is no project “ghost”"),
        ("/clear ghost", "There is no project “ghost”"),
        ("/message ghost hi", "There is no project “ghost”"),
        ("/message ghost", "There is no project “ghost”"),
        ("/message", "Usage: /message NAME [TEXT]"),
        ("/preview ghost", "There is no project “ghost”"),
        ("/preview news", "news has no messages"),
        ("/cancel now", "Usage: /cancel"),
    ],
)
async def test_refusals_change_nothing(harness: Harness, command: str, expected: str) -> None:
    await harness.op.ask("/new news")
    reply = await harness.op.ask(command)
    assert expected in reply
    assert await Project.all().values_list("name", "status") == [("news", "stopped")]
    assert await Message.all().count() == 0
    assert await Capture.all().count() == 0


async def test_delete_removes_everything(harness: Harness) -> None:
    op = harness.op
    await op.ask("/new news")
    await op.ask("/targets news @first_channel")
    await op.ask("/message news hello")
    assert await op.ask("/delete news") == (
        "Deleted news with its targets, messages and run history."
    )
    assert await Project.all().count() == 0
    assert await Target.all().count() == 0
    assert await Message.all().count() == 0


async def test_message_with_text_keeps_its_formatting(harness_both: Harness) -> None:
    op = harness_both.op
    await op.ask("/new news")
    # "/message news " is 14 UTF-16 units; "😀 " is 3 more, then "bold" (bold).
    text = "/message news 😀 bold and link"
    entities = [
        {"type": "bold", "offset": 17, "length": 4},
        {"type": "text_link", "offset": 26, "length": 4, "url": "https://example.org/"},
    ]
    assert await op.ask(text, entities=entities) == "Added message 1 to news (text)."
    message = await Message.get(project__name="news")
    assert message.kind == "text"
    assert message.origin_chat_id is None
    assert message.content == {
        "text": "😀 bold and link",
        "entities": [
            {"type": "bold", "offset": 3, "length": 4},
            {"type": "text_link", "offset": 12, "length": 4, "url": "https://example.org/"},
        ],
    }


async def test_messages_keep_contiguous_positions_and_clear_removes_them(harness: Harness) -> None:
    op = harness.op
    await op.ask("/new news")
    for i in range(3):
        await op.ask(f"/message news number {i}")
    rows = await Message.filter(project__name="news").order_by("position")
    assert [(m.position, m.content["text"]) for m in rows] == [
        (0, "number 0"),
        (1, "number 1"),
        (2, "number 2"),
    ]
    assert await op.ask("/clear news") == (
        "Removed 3 message(s) from news. /message news adds new ones."
    )
    assert await Message.all().count() == 0
    await op.ask("/message news again")
    assert await Message.all().values_list("position", flat=True) == [0]


async def test_preview_reproduces_messages_in_the_operators_chat(harness: Harness) -> None:
    op, sandbox = harness.op, harness.sandbox
    await op.ask("/new news")
    await op.ask(
        "/message news *plain* text", entities=[{"type": "bold", "offset": 14, "length": 7}]
    )
    await op.ask("/message news")
    photo = sandbox.operator_message(
        ADMIN,
        photo="PHOTO-1",
        caption="a caption",
        caption_entities=[{"type": "italic", "offset": 2, "length": 7}],
    )
    await sandbox.wait_for(lambda: op.inbox[-1].text == "Added message 2 to news (photo).")
    before = len(op.inbox)
    await op.send("/preview news", replies=3)
    header, text, copy = op.inbox[before:]
    assert header.text == "Preview of news: 2 message(s), exactly as targets will get them."
    assert (text.text, text.entities) == (
        "*plain* text",
        [{"type": "bold", "offset": 0, "length": 7}],
    )
    assert copy.method == "copyMessage"
    assert copy.copied_from == (ADMIN, photo["message_id"])
    assert (copy.media, copy.file_id, copy.caption) == ("photo", "PHOTO-1", "a caption")


async def test_preview_falls_back_to_content_when_the_original_is_gone(harness: Harness) -> None:
    op, sandbox = harness.op, harness.sandbox
    await op.ask("/new news")
    await op.ask("/message news")
    original = sandbox.operator_message(ADMIN, document="DOC-1", caption="report")
    await sandbox.wait_for(lambda: op.inbox[-1].text == "Added message 1 to news (document).")
    sandbox.chat(ADMIN).messages[original["message_id"]].deleted = True  # the operator deleted it
    before = len(op.inbox)
    await op.send("/preview news", replies=2)
    copy = op.inbox[before + 1]
    assert (copy.method, copy.media, copy.file_id, copy.caption) == (
        "sendDocument",
        "document",
        "DOC-1",
        "report",
    )


async def test_run_refusals(harness: Harness) -> None:
    op = harness.op
    assert "There is no project “ghost”" in await op.ask("/run ghost")
    await op.ask("/new news")
    assert "news has no targets" in await op.ask("/run news")
    await op.ask("/targets news @first_channel")
    assert "news has no messages" in await op.ask("/run news")
    assert "news is not running" in await op.ask("/stop news")
    assert "news is not running" in await op.ask("/pause news")
    assert "news is not paused" in await op.ask("/resume news")
    assert "Usage: /run NAME" in await op.ask("/run")
    assert (await Project.get(name="news")).status == ProjectStatus.STOPPED


async def test_refusals_while_a_run_is_active(sqlite_url: str) -> None:
    async with harness_on(sqlite_url, max_attempts=50) as h:
        h.sandbox.add_channel("@stuck_channel", Behaviour(fail_5xx_always=True))
        op = h.op
        await op.ask("/new news")
        await op.ask("/targets news @stuck_channel")
        await op.ask("/message news hello")
        assert "news — running" in await op.ask("/run news")
        assert "news is running already" in await op.ask("/run news")
        assert "news has an active run. /stop news first" in await op.ask("/delete news")
        assert "news has an active run" in await op.ask("/clear news")
        assert "news is not paused" in await op.ask("/resume news")
        assert (await op.ask("/pause news")).startswith("⏸ Paused news at 0/1.")
        assert "news is not running" in await op.ask("/pause news")
        assert (await Project.get(name="news")).status == ProjectStatus.PAUSED
        assert await Message.all().count() == 1
        assert (await op.ask("/resume news")).startswith("▶️ Resumed news: 1 job(s) to go.")
        replies = await op.send("/stop news", replies=2)
        assert replies[0] == "⏹ Stopped news: 1 unsent job(s) cancelled; nothing more is sent."
        assert replies[1].splitlines()[0] == "⏹ news: stopped 0/1"
        assert "Deleted news" in await op.ask("/delete news")
