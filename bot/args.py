"""Splitting a command's arguments; a missing or extra argument is a `Usage` refusal."""

from __future__ import annotations

import re

from aiogram.filters import CommandObject


class Usage(Exception):
    """The command's arguments are missing or extra: show its usage."""

    def __init__(self, command: str) -> None:
        super().__init__(command)
        self.command = command


def _words(command: CommandObject) -> list[str]:
    return (command.args or "").split()


def nothing(command: CommandObject) -> None:
    """A command that takes no arguments."""
    if _words(command):
        raise Usage(command.command.lower())


def name_only(command: CommandObject) -> str:
    """Exactly one argument, the project's name."""
    words = _words(command)
    if len(words) != 1:
        raise Usage(command.command.lower())
    return words[0]


def name_and_rest(command: CommandObject) -> tuple[str, str]:
    """The name, then everything after it as typed (possibly empty)."""
    parts = (command.args or "").split(maxsplit=1)
    if not parts:
        raise Usage(command.command.lower())
    return parts[0], parts[1] if len(parts) > 1 else ""


def name_and_chats(command: CommandObject) -> tuple[str, list[str]]:
    """The name and at least one chat; chats may be separated by spaces or commas."""
    name, rest = name_and_rest(command)
    chats = [c for c in re.split(r"[\s,]+", rest) if c]
    if not chats:
        raise Usage(command.command.lower())
    return name, chats
