"""Fuzzed command arguments: never an unhandled exception, always exactly one reply.

One running app serves every example (starting one per example would be slow);
the database accumulates whatever the examples create, which widens the states seen.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from herald.bot import texts
from herald.db.models import Message, Project
from tests.botkit import ADMIN, Harness, harness_fixture  # noqa: F401

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: /message is fuzzed apart: without messages no /run or /preview ever starts sending,
#: so every command here answers with exactly one message.
COMMANDS = [c for c, _, _ in texts.COMMANDS if c != "message"] + ["start", "bogus", "NEW", "Run"]
WORD = st.one_of(
    st.from_regex(r"[a-z0-9_-]{1,8}", fullmatch=True),
    st.from_regex(r"@[A-Za-z0-9_]{0,40}", fullmatch=True),
    st.from_regex(r"(https?://)?t\.me/[+A-Za-z0-9_/]{0,20}", fullmatch=True),
    st.from_regex(r"-?100[0-9]{0,25}", fullmatch=True),
    st.text(max_size=20),
)
ARGS = st.one_of(
    st.just(""),
    st.text(max_size=80),
    st.lists(WORD, max_size=8).map(" ".join),
    st.lists(WORD, max_size=8).map(", ".join),
    st.text(min_size=2000, max_size=3500),
)


async def one_reply(h: Harness, text: str) -> str:
    before = len(h.op.inbox)
    h.sandbox.operator_message(ADMIN, text)
    await h.sandbox.wait_for(lambda: len(h.op.inbox) > before, timeout=10, description=text[:80])
    await h.settled()
    assert len(h.op.inbox) == before + 1, [m.text for m in h.op.inbox[before:]]
    reply = h.op.inbox[-1].text or ""
    assert 0 < len(reply) <= texts.MAX_REPLY
    return reply


def no_errors(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


@FUZZ
@given(command=st.sampled_from(COMMANDS), args=ARGS, separator=st.sampled_from([" ", "\n", "  "]))
async def test_fuzzed_commands_get_exactly_one_reply(
    harness: Harness, caplog: pytest.LogCaptureFixture, command: str, args: str, separator: str
) -> None:
    await one_reply(harness, f"/{command}{separator}{args}".rstrip() or "/")
    no_errors(caplog)


@FUZZ
@given(name=st.sampled_from(["fz", "ghost", "Bad!"]), text=st.text(min_size=1, max_size=300))
async def test_fuzzed_message_text_is_stored_as_typed(
    harness: Harness, caplog: pytest.LogCaptureFixture, name: str, text: str
) -> None:
    if not await Project.exists(name="fz"):
        await harness.op.ask("/new fz")
    before = await Message.all().count()
    reply = await one_reply(harness, f"/message {name} {text}")
    no_errors(caplog)
    words = text.split(maxsplit=0)
    if name != "fz":
        assert "There is no project" in reply
        assert await Message.all().count() == before
    elif not words:  # only whitespace: a bare /message starts a capture
        assert reply.startswith("Send the message for fz now")
        await harness.op.ask("/cancel")
    else:
        assert reply.startswith("Added message")
        stored = await Message.all().order_by("-id").first()
        assert stored is not None
        assert stored.content["text"] == words[0]
