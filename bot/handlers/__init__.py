"""The router tree, assembled in one place; the order is the order of matching.

Each feature module builds its `Router(name=__name__)` in `build()` instead of at
import: an aiogram router can be attached to one parent only, and the tests (and
`herald demo`) build several dispatchers in one process, e.g. to restart the bot.
"""

from __future__ import annotations

from aiogram import Router

from herald.bot.handlers import errors, fallback, help, messages, preview, projects, runs


def build_router() -> Router:
    root = Router(name="herald")
    root.include_routers(
        help.build(),
        projects.build(),
        runs.build(),
        preview.build(),
        messages.build(),  # after every command router: it also takes non-command messages
        fallback.build(),
        errors.build(),
    )
    return root
