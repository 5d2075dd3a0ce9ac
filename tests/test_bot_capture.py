"""`/message NAME`, then the operator's next message: stored and sent faithfully, in order."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from herald.db.models import Capture, Message, Project
from herald.sandbox import SentMessage
from tests.botkit import (  # noqa: F401
    ADMIN,
    Harness,
    harness_both_fixture,
    harness_fixture,
)

BOLD = [{"type": "bold", "offset": 0, "length": 4}]
ITALIC = [{"type": "italic", "offset": 2, "length": 3}]
TARGETS = ("@first_channel", "@second_channel", "-1001234567890")


async def capture(h: Harness, name: str, **message: Any) -> dict[str, Any]:
    """/message NAME, then `message`; returns the operator's message as Telegram stored it."""
    assert (await h.op.ask(f"/message {name}")).startswith(f"Send the message for {name} now")
    before = len(h.op.inbox)
    sent = h.sandbox.operator_message(ADMIN, **message)
    await h.sandbox.wait_for(lambda: len(h.op.inbox) > before, description="capture reply")
    assert h.op.inbox[-1].text.startswith("Added message ")
    return sent


def faithful(got: SentMessage, origin: dict[str, Any]) -> bool:
    """A target's message equals the operator's original in everything a reader sees."""
    media = next((k for k in ("photo", "video", "document", "audio") if k in origin), None)
    return (
        got.copied_from == (ADMIN, origin["message_id"])
        and got.text == origin.get("text")
        and (got.entities or None) == origin.get("entities")
        and got.caption == origin.get("caption")
        and (got.caption_entities or None) == origin.get("caption_entities")
        and got.media == media
    )


async def test_captured_messages_reach_every_target_faithfully_and_in_order(
    harness_both: Harness,
) -> None:
    h = harness_both
    for chat in TARGETS:
        h.sandbox.add_channel(chat)
    await h.op.ask("/new news")
    await h.op.ask("/targets news " + " ".join(TARGETS))
    originals = [
        await capture(h, "news", text="Bold news", entities=BOLD),
        await capture(h, "news", photo="PHOTO", caption="a photo", caption_entities=ITALIC),
        await capture(h, "news", video="VIDEO", caption="a video", caption_entities=ITALIC),
        await capture(h, "news", document="DOC", caption="a file", caption_entities=ITALIC),
    ]
    kinds = (
        await Message.filter(project__name="news")
        .order_by("position")
        .values_list("kind", flat=True)
    )
    assert kinds == ["text", "photo", "video", "document"]
    await h.op.send("/run news", replies=2)  # the progress message, then the notice
    assert h.op.inbox[-1].text.splitlines()[0] == "✅ news: completed 12/12"
    for chat in TARGETS:
        got = h.sandbox.received(chat)
        assert len(got) == 4, chat
        assert all(faithful(g, o) for g, o in zip(got, originals, strict=True)), chat


async def test_content_is_stored_for_when_the_original_is_gone(harness: Harness) -> None:
    h = harness
    await h.op.ask("/new news")
    await capture(h, "news", text="Bold news", entities=BOLD)
    await capture(h, "news", photo="PHOTO", caption="a photo", caption_entities=ITALIC)
    for kind in ("video", "document", "audio", "animation", "voice"):
        await capture(h, "news", **{kind: kind.upper(), "caption": kind})
    await capture(h, "news", sticker="STICKER")
    rows = await Message.filter(project__name="news").order_by("position")
    assert [(m.kind, m.origin_chat_id) for m in rows] == [
        (kind, ADMIN)
        for kind in ("text", "photo", "video", "document", "audio", "animation", "voice", "sticker")
    ]
    assert rows[0].content == {"text": "Bold news", "entities": BOLD}
    assert rows[1].content == {
        "file_id": "PHOTO",
        "caption": "a photo",
        "caption_entities": ITALIC,
    }
    assert rows[5].content == {"file_id": "ANIMATION", "caption": "animation"}
    assert rows[7].content == {"file_id": "STICKER"}
    assert [m.origin_message_id for m in rows] == sorted(m.origin_message_id for m in rows)


async def test_a_capture_survives_a_restart(harness_both: Harness) -> None:
    h = harness_both
    await h.op.ask("/new news")
    await h.op.ask("/message news")
    await h.settled()
    await h.restart()
    before = len(h.op.inbox)
    replies = await h.op.send(photo="PHOTO", caption="after the restart")
    assert replies == ["Added message 1 to news (photo)."]
    await h.settled()
    assert len(h.op.inbox) == before + 1  # the /message before the restart is not redone
    message = await Message.get(project__name="news")
    assert message.content["caption"] == "after the restart"
    assert await Capture.all().count() == 0


async def test_cancel_abandons_the_capture(harness: Harness) -> None:
    op = harness.op
    await op.ask("/new news")
    assert await op.ask("/cancel") == "Nothing to cancel: no /message is waiting for a message."
    await op.ask("/message news")
    assert await op.ask("/cancel") == "Abandoned: no message was added to news."
    assert "first send /message NAME" in await op.ask("hello")
    assert await Message.all().count() == 0


async def test_commands_during_a_capture_are_commands(harness: Harness) -> None:
    op = harness.op
    await op.ask("/new news")
    await op.ask("/message news")
    assert (await op.ask("/show news")).startswith("news — stopped")
    assert await op.ask("the message") == "Added message 1 to news (text)."


async def test_an_unsupported_message_keeps_the_capture(harness: Harness) -> None:
    h = harness
    await h.op.ask("/new news")
    await h.op.ask("/message news")
    before = len(h.op.inbox)
    chat = h.sandbox.chat(ADMIN).info.to_json()
    user = h.sandbox.users[ADMIN]
    location = {"latitude": 1.5, "longitude": 2.5}
    h.sandbox.updates.push(
        "message",
        {
            "message_id": 999,
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            "location": location,
        },
    )
    h.sandbox.notify()
    await h.sandbox.wait_for(lambda: len(h.op.inbox) > before)
    assert h.op.inbox[-1].text.startswith("This message (location) can't be broadcast.")
    assert await h.op.ask("now text") == "Added message 1 to news (text)."


async def test_a_stale_capture_does_not_take_a_message(harness: Harness) -> None:
    op = harness.op
    await op.ask("/new news")
    await op.ask("/message news")
    capture_row = await Capture.get(chat_id=ADMIN)
    await Capture.filter(chat_id=ADMIN).update(
        created_at=capture_row.created_at - timedelta(hours=2)
    )
    assert "first send /message NAME" in await op.ask("hello, much later")
    assert await Message.all().count() == 0
    assert await Project.all().count() == 1
