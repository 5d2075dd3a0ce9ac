"""Refusals: what an operator asked for cannot be done, and nothing changed.

Each exception carries the facts; `herald.bot.texts` renders the reply that says
what to do instead. The engine and the database layer raise them; handlers
never build refusal texts of their own.
"""

from __future__ import annotations


class Refusal(Exception):
    """The request was refused and nothing changed."""

    def __init__(self, project: str | None = None, detail: str = "") -> None:
        super().__init__(project, detail)
        self.project = project
        self.detail = detail


class UnknownProject(Refusal):
    """There is no project with that name."""


class BadName(Refusal):
    """A project name is 1-64 of a-z 0-9 _ -."""


class DuplicateName(Refusal):
    """A project with that name exists already."""


class NoTargets(Refusal):
    """The project has no targets, so a run would have no jobs."""


class NoMessages(Refusal):
    """The project has no messages, so a run would have no jobs."""


class AlreadyRunning(Refusal):
    """The project has an active run."""


class NotRunning(Refusal):
    """The project has no active run."""


class NotPaused(Refusal):
    """The project's run is not paused."""


class ProjectActive(Refusal):
    """The project has an active run; stop it first."""
