"""The whole operator-visible conversation of one run, from /new to the completion notice.

`pytest -s tests/test_bot_transcript.py` prints it: the wording reviewed as a whole.
"""

from __future__ import annotations

from typing import Any

from herald.sandbox import Behaviour, Revision, SentMessage
from tests.botkit import ADMIN, harness_on


def _buttons(markup: dict[str, Any] | None) -> str:
    rows = (markup or {}).get("inline_keyboard", [])
    return "  ".join(f"[{b['text']}]" for row in rows for b in row)


def _body(item: SentMessage | Revision, media: str | None) -> str:
    text = item.text if item.text is not None else item.caption or ""
    head = f"({media}) " if media else ""
    return head + text


def transcript(messages: list[SentMessage]) -> str:
    """Operator (>) and bot (<) messages in order; an edited one shows every version."""
    out: list[str] = []
    for m in sorted(messages, key=lambda m: m.message_id):
        who = "<" if m.from_bot else ">"
        for i, old in enumerate(m.history):
            out.append(f"{who} [version {i + 1}] " + _body(old, m.media).replace("\n", "\n    "))
            if _buttons(old.reply_markup):
                out.append("    " + _buttons(old.reply_markup))
        label = "[final] " if m.history else ""
        out.append(f"{who} {label}" + _body(m, m.media).replace("\n", "\n    "))
        if _buttons(m.reply_markup):
            out.append("    " + _buttons(m.reply_markup))
    return "\n".join(out)


async def test_transcript_of_one_run(sqlite_url: str) -> None:
    async with harness_on(sqlite_url, rate_limit=8, progress_interval=0.5) as h:
        sb, op = h.sandbox, h.op
        for chat in ("@daily_news", "@weekly_digest", "@tech_updates"):
            sb.add_channel(chat)
        sb.add_channel("@gone_channel", Behaviour(forbidden=True))
        await op.ask("/new launch")
        await op.ask(
            "/targets launch @daily_news @weekly_digest t.me/tech_updates @gone_channel"
            " -1009876543210 @x"
        )
        await op.ask(
            "/message launch Big launch today!",
            entities=[{"type": "bold", "offset": 15, "length": 17}],
        )
        await op.ask("/message launch")
        await op.send(photo="PHOTO-LAUNCH", caption="The new product")
        await op.ask("/show launch")
        await op.send("/preview launch", replies=3)
        await op.send("/run launch", replies=2)
        text = transcript(list(sb.chat(ADMIN).messages.values()))
        print("\n" + text)
        assert "< ✅ launch: completed 10/10" in text
        assert "• @gone_channel — Forbidden: bot was kicked from the channel chat" in text
        assert "• -1009876543210 — Bad Request: chat not found" in text
