"""Typed access to Bot API request parameters.

aiogram sends every value as a form string: ints as "123", booleans as "true", and nested
objects (entities, reply_markup, commands, scope) as JSON text; falsy values are omitted
entirely. A JSON body instead carries real types. Getters accept both forms.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .models import ApiError


class Params:
    """One request's parameters plus per-request answer options set by the method handler."""

    __slots__ = ("data", "delay")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.delay = 0.0  # seconds to hold the (successful) answer back: Behaviour.timeout

    def __contains__(self, key: str) -> bool:
        return self.data.get(key) not in (None, "")

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def get_str(self, key: str) -> str | None:
        value = self.data.get(key)
        return None if value is None else str(value)

    def get_int(self, key: str, default: int | None = None) -> int | None:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError.bad_request(f'field "{key}" must be of type Integer') from None

    def require_int(self, key: str) -> int:
        value = self.get_int(key)
        if value is None:
            raise ApiError.bad_request(f"{key} is empty")
        return value

    def get_float(self, key: str, default: float = 0.0) -> float:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ApiError.bad_request(f'field "{key}" must be of type Number') from None

    def get_bool(self, key: str) -> bool:
        value = self.data.get(key)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def get_json(self, key: str) -> Any:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ApiError.bad_request(f"can't parse {key} JSON object") from None
        return value

    def chat(self, key: str = "chat_id") -> int | str:
        """An int id, or an "@username" string, as Telegram accepts for chat_id."""
        value = self.data.get(key)
        if value is None or value == "":
            raise ApiError.bad_request(f"{key} is empty")
        return parse_chat_ref(value)


def parse_chat_ref(value: Any) -> int | str:
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return text
