"""The Telegram Bot API sandbox, exercised through the real aiogram client over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher, F
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import Command
from aiogram.types import (
    BotCommand,
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
)
from hypothesis import given
from hypothesis import strategies as st

from herald.sandbox import Behaviour, Sandbox
from herald.sandbox.models import max_in_window

OPERATOR = 4242
ROOT = Path(__file__).resolve().parents[1]


@pytest_asyncio.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox() as sb:
        yield sb
    assert sb.internal_errors == []


@pytest_asyncio.fixture
async def bot(sandbox: Sandbox) -> AsyncIterator[Bot]:
    bot = sandbox.bot()
    yield bot
    await bot.session.close()


def keyboard(data: str) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(text="Go", callback_data=data)
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


@pytest.mark.asyncio
async def test_send_message_records_text_entities_in_order(sandbox: Sandbox, bot: Bot) -> None:
    channel = sandbox.add_channel("@news")
    bold = MessageEntity(type="bold", offset=0, length=5)
    first = await bot.send_message("@news", "Hello world", entities=[bold])
    await bot.send_message(channel, "second", reply_markup=keyboard("x"))

    assert first.chat.id == channel
    assert first.chat.username == "news"
    assert first.entities is not None
    assert [e.model_dump() for e in first.entities] == [bold.model_dump()]
    got = sandbox.received("@news")
    assert [m.text for m in got] == ["Hello world", "second"]
    assert got[0].entities == [{"type": "bold", "offset": 0, "length": 5}]
    assert got[1].reply_markup == {"inline_keyboard": [[{"text": "Go", "callback_data": "x"}]]}
    assert [m.message_id for m in got] == [1, 2]
    assert sandbox.stats.delivered == 2
    assert len(sandbox.send_times) == 2
    assert [c.outcome for c in sandbox.calls] == ["ok", "ok"]


@pytest.mark.asyncio
async def test_html_parse_mode_becomes_entities(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.add_channel("@news")
    await bot.send_message(
        "@news", 'Hi <b>bold</b> <a href="https://x.y">link</a> &amp;', parse_mode="HTML"
    )
    (msg,) = sandbox.received("@news")
    assert msg.text == "Hi bold link &"
    assert msg.entities == [
        {"type": "bold", "offset": 3, "length": 4},
        {"type": "text_link", "url": "https://x.y", "offset": 8, "length": 4},
    ]
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message("@news", "<b>open", parse_mode="HTML")


@pytest.mark.asyncio
async def test_copy_message_reproduces_operator_photo(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.add_channel("@news")
    italic = [{"type": "italic", "offset": 0, "length": 3}]
    source = sandbox.operator_message(
        OPERATOR, photo="AgACphoto1", caption="Sun rises", caption_entities=italic
    )
    copy = await bot.copy_message("@news", OPERATOR, source["message_id"])

    (msg,) = sandbox.received("@news")
    assert msg.message_id == copy.message_id
    assert (msg.media, msg.file_id, msg.caption) == ("photo", "AgACphoto1", "Sun rises")
    assert msg.caption_entities == italic
    assert msg.copied_from == (OPERATOR, source["message_id"])
    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await bot.copy_message("@news", OPERATOR, 999)


@pytest.mark.asyncio
async def test_send_media_by_file_id(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.add_channel("@news")
    message = await bot.send_video("@news", "BAADvideo", caption="clip")
    assert message.video is not None
    assert message.video.file_id == "BAADvideo"
    sticker = await bot.send_sticker("@news", "CAACsticker")
    assert sticker.sticker is not None
    assert [m.media for m in sandbox.received("@news")] == ["video", "sticker"]


@pytest.mark.parametrize(
    ("behaviour", "error", "text"),
    [
        (Behaviour(forbidden=True), TelegramForbiddenError, "bot was kicked from the channel"),
        (Behaviour(not_found=True), TelegramBadRequest, "chat not found"),
        (Behaviour(no_rights=True), TelegramBadRequest, "not enough rights"),
        (Behaviour(too_long=True), TelegramBadRequest, "message is too long"),
        (Behaviour(fail_5xx_always=True), TelegramServerError, "Internal Server Error"),
    ],
)
@pytest.mark.asyncio
async def test_failing_chats_raise_aiogram_errors(
    sandbox: Sandbox, bot: Bot, behaviour: Behaviour, error: type[Exception], text: str
) -> None:
    sandbox.add_channel("@bad", behaviour)
    with pytest.raises(error, match=text):
        await bot.send_message("@bad", "hi")
    assert sandbox.received("@bad") == []


@pytest.mark.asyncio
async def test_transient_failures_then_success(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.add_channel("@flaky", Behaviour(flood=1, retry_after=7, fail_5xx=1))
    with pytest.raises(TelegramRetryAfter) as flood:
        await bot.send_message("@flaky", "hi")
    assert flood.value.retry_after == 7
    with pytest.raises(TelegramServerError):
        await bot.send_message("@flaky", "hi")
    await bot.send_message("@flaky", "hi")
    assert len(sandbox.received("@flaky")) == 1
    assert sandbox.stats.too_many_requests == 1
    assert sandbox.stats.server_errors == 1
    assert [c.outcome for c in sandbox.calls] == ["429", "500", "ok"]


@pytest.mark.asyncio
async def test_retry_after_header_and_unknown_chat(sandbox: Sandbox) -> None:
    sandbox.add_channel("@flood", Behaviour(flood=1, retry_after=3))
    async with aiohttp.ClientSession() as http:
        url = f"{sandbox.url}/bot1:x/sendMessage"
        async with http.post(url, data={"chat_id": "@flood", "text": "a"}) as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "3"
            assert (await resp.json())["parameters"] == {"retry_after": 3}
        async with http.post(url, json={"chat_id": "@nobody", "text": "a"}) as resp:
            body = await resp.json()
            assert resp.status == 400
            assert body["description"] == "Bad Request: chat not found"
        async with http.post(f"{sandbox.url}/bot1:x/fooBar") as resp:
            assert resp.status == 404
            assert (await resp.json())["description"] == "Not Found: method not found"
    sandbox.auto_channels = True
    bot = sandbox.bot()
    try:
        await bot.send_message("@nobody", "now it exists")
    finally:
        await bot.session.close()
    assert len(sandbox.received("@nobody")) == 1


@pytest.mark.asyncio
async def test_wrong_token_is_unauthorized() -> None:
    async with (
        Sandbox(token="1:right") as sb,
        aiohttp.ClientSession() as http,
        http.post(f"{sb.url}/bot1:wrong/getMe") as resp,
    ):
        assert resp.status == 401
        assert await resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


@pytest.mark.asyncio
async def test_migration_points_to_supergroup(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.add_channel(-4001, Behaviour(migrate_to=-1009990001))
    with pytest.raises(TelegramMigrateToChat) as migrated:
        await bot.send_message(-4001, "hi")
    assert migrated.value.migrate_to_chat_id == -1009990001
    await bot.send_message(migrated.value.migrate_to_chat_id, "hi again")
    assert [m.text for m in sandbox.received(-1009990001)] == ["hi again"]


@pytest.mark.asyncio
async def test_bad_gateway_html_is_a_decode_error(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.add_channel("@proxy", Behaviour(bad_gateway_html=1))
    with pytest.raises(ClientDecodeError):
        await bot.send_message("@proxy", "hi")
    await bot.send_message("@proxy", "hi")
    assert sandbox.stats.server_errors == 1


@pytest.mark.asyncio
async def test_timeout_delivers_but_client_gives_up(sandbox: Sandbox) -> None:
    sandbox.add_channel("@slow", Behaviour(timeout=2.0))
    bot = sandbox.bot(timeout=0.3)
    try:
        with pytest.raises(TelegramNetworkError):
            await bot.send_message("@slow", "did it arrive?")
    finally:
        await bot.session.close()
    assert [m.text for m in sandbox.received("@slow")] == ["did it arrive?"]


@pytest.mark.asyncio
async def test_global_rate_limit() -> None:
    async with Sandbox(rate_limit=5) as sb:
        sb.add_channel("@fast")
        bot = sb.bot()
        try:
            sends = [bot.send_message("@fast", str(i)) for i in range(10)]
            results = await asyncio.gather(*sends, return_exceptions=True)
        finally:
            await bot.session.close()
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 5
    assert all(isinstance(e, TelegramRetryAfter) for e in errors)
    assert all(e.retry_after == 1 for e in errors)
    assert len(sb.received("@fast")) == 5
    assert sb.stats.too_many_requests == 5
    assert sb.summary()["send_times"]["max_per_second"] == 5


@pytest.mark.asyncio
async def test_edit_message_text_and_not_modified(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.add_channel("@news")
    sent = await bot.send_message("@news", "v1", reply_markup=keyboard("a"))
    edited = await bot.edit_message_text(
        "v2", chat_id="@news", message_id=sent.message_id, reply_markup=keyboard("a")
    )
    assert isinstance(edited, Message)
    assert edited.text == "v2"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "v2", chat_id="@news", message_id=sent.message_id, reply_markup=keyboard("a")
        )
    await bot.delete_message("@news", sent.message_id)
    (msg,) = sandbox.received("@news")
    assert msg.text == "v2"
    assert [r.text for r in msg.history] == ["v1"]
    assert msg.deleted


@pytest.mark.asyncio
async def test_chat_info_and_membership(sandbox: Sandbox, bot: Bot) -> None:
    sandbox.add_channel("@news", admins=[OPERATOR])
    sandbox.add_channel("@readonly", Behaviour(no_rights=True))
    chat = await bot.get_chat("@news")
    assert chat.type == "channel"
    assert chat.username == "news"
    me = await bot.get_chat_member("@news", bot.id)
    assert isinstance(me, ChatMemberAdministrator)
    assert me.can_post_messages
    assert isinstance(await bot.get_chat_member("@readonly", bot.id), ChatMemberMember)
    assert isinstance(await bot.get_chat_member("@news", OPERATOR), ChatMemberAdministrator)
    assert (await bot.get_chat_member("@news", 777)).status == "left"
    assert (await bot.get_me()).id == bot.id


@pytest.mark.asyncio
async def test_my_commands_round_trip(sandbox: Sandbox, bot: Bot) -> None:
    assert await bot.set_my_commands([BotCommand(command="post", description="Post")])
    assert [c.command for c in await bot.get_my_commands()] == ["post"]
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == []


@pytest.mark.asyncio
async def test_get_updates_long_poll_and_offset(sandbox: Sandbox, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    with pytest.raises(TelegramConflictError):
        await bot.get_updates(timeout=0)
    sandbox.operator_message(OPERATOR, "/start now", username="op")
    (update,) = await asyncio.wait_for(poll, 2)
    assert update.message is not None
    assert update.message.text == "/start now"
    assert update.message.entities is not None
    assert update.message.entities[0].type == "bot_command"
    assert update.message.entities[0].length == len("/start")
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [update.update_id]
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == []


@pytest.mark.asyncio
async def test_dispatcher_receives_command_and_callback(sandbox: Sandbox, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message(Command("start"))
    async def start(message: Message) -> None:
        await message.answer("Choose", reply_markup=keyboard("pick"))

    @dp.callback_query(F.data == "pick")
    async def pick(query: CallbackQuery) -> None:
        await query.answer("picked")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Picked!")

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=5)
    )
    try:
        sandbox.operator_message(OPERATOR, "/start")
        (reply,) = await sandbox.wait_received(OPERATOR, 1, timeout=3)
        assert reply.text == "Choose"
        callback_id = sandbox.operator_callback(OPERATOR, reply.message_id, "pick")
        await sandbox.wait_for(lambda: reply.text == "Picked!", timeout=3)
        assert sandbox.answered_callbacks[callback_id]["text"] == "picked"
    finally:
        await dp.stop_polling()
        await polling


@pytest.mark.asyncio
async def test_wait_for_timeout_explains(sandbox: Sandbox) -> None:
    with pytest.raises(TimeoutError, match="1 message"):
        await sandbox.wait_received("@nothing", 1, timeout=0.1)


@given(st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), max_size=40))
def test_max_in_window_matches_brute_force(times: list[float]) -> None:
    times = sorted(times)
    brute = max((sum(1 for u in times if t <= u < t + 1.0) for t in times), default=0)
    assert max_in_window(times) == brute


@pytest.mark.asyncio
async def test_standalone_process_serves_and_stops() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "herald.sandbox",
        "--port",
        "0",
        "--rate-limit",
        "30",
        stdout=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
        prefix = "sandbox listening on "
        assert line.startswith(prefix)
        url = line.removeprefix(prefix)
        async with aiohttp.ClientSession() as http:
            config = {"channels": [{"chat": "@c1", "behaviour": {"flood": 1}}], "latency": 0}
            async with http.post(f"{url}/_control/channels", json=config) as resp:
                assert (await resp.json())["ok"]
            sb = Sandbox()
            sb.url = url  # reuse the Bot factory against the external process
            bot = sb.bot()
            try:
                with pytest.raises(TelegramRetryAfter):
                    await bot.send_message("@c1", "one")
                await bot.send_message("@c1", "two")
            finally:
                await bot.session.close()
            async with http.get(f"{url}/_control/stats") as resp:
                stats = json.loads(await resp.text())
        assert stats["delivered_per_chat"] == {"@c1": 1}
        assert stats["too_many_requests"] == 1
        assert stats["send_times"]["count"] == 1
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 5) == 0
