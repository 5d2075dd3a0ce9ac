"""Telegram's HTML parse mode, turned into plain text + entities the way Telegram does it.

Recording entities instead of raw markup means a test asserts the same thing whether Herald
sent ``parse_mode=HTML`` or explicit entities. Offsets are in UTF-16 code units, as in the
Bot API. MarkdownV2 is not interpreted (the text is stored verbatim with its parse_mode).
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from .models import ApiError

_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units), used for offsets and limits."""
    return len(text.encode("utf-16-le")) // 2


def _error(message: str) -> ApiError:
    return ApiError.bad_request(f"can't parse entities: {message}")


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0  # UTF-16 units emitted so far
        self.stack: list[tuple[str, int, dict[str, Any] | None]] = []
        self.entities: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        entity: dict[str, Any] | None
        if tag in _SIMPLE:
            entity = {"type": _SIMPLE[tag]}
        elif tag == "span" and attributes.get("class") == "tg-spoiler":
            entity = {"type": "spoiler"}
        elif tag == "a":
            entity = {"type": "text_link", "url": attributes.get("href") or ""}
        elif tag == "blockquote":
            kind = "expandable_blockquote" if "expandable" in attributes else "blockquote"
            entity = {"type": kind}
        elif tag == "tg-emoji":
            entity = {"type": "custom_emoji", "custom_emoji_id": attributes.get("emoji-id")}
        else:
            raise _error(f'unsupported start tag "{tag}"')
        if tag == "code" and self.stack and self.stack[-1][0] == "pre":
            language = (attributes.get("class") or "").removeprefix("language-")
            pre = self.stack[-1][2]
            if language and pre is not None:
                pre["language"] = language
            entity = None  # <pre><code class=...> is a single pre entity
        self.stack.append((tag, self.length, entity))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            raise _error(f'unmatched end tag "{tag}"')
        _, start, entity = self.stack.pop()
        if entity is not None and self.length > start:
            self.entities.append({**entity, "offset": start, "length": self.length - start})

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.length += utf16_len(data)


def parse_html(markup: str) -> tuple[str, list[dict[str, Any]] | None]:
    """Return (plain text, entities or None); raise ApiError(400) on malformed markup."""
    parser = _Parser()
    parser.feed(markup)
    parser.close()
    if parser.stack:
        raise _error(f'can\'t find end tag corresponding to start tag "{parser.stack[-1][0]}"')
    entities = sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))
    return "".join(parser.parts), entities or None


def apply_parse_mode(
    text: str | None, entities: list[dict[str, Any]] | None, parse_mode: str | None
) -> tuple[str | None, list[dict[str, Any]] | None]:
    """Explicit entities win over parse_mode, as on Telegram; only HTML is interpreted."""
    if text is None or entities is not None or not parse_mode:
        return text, entities
    if parse_mode.lower() == "html":
        return parse_html(text)
    return text, None
