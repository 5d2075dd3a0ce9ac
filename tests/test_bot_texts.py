"""Rendering, tested as pure functions: bars, notices, refusals, limits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from herald import errors
from herald.bot import texts
from herald.db.models import RunStatus
from herald.db.queries import Progress, RunView

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def view(
    status: RunStatus,
    done: int,
    total: int,
    errors_: int = 0,
    *,
    retrying: int = 0,
    cancelled: int = 0,
    took: float | None = None,
) -> Progress:
    stats = {
        "total_jobs": total,
        "completed_jobs": done,
        "success_count": done - errors_,
        "error_count": errors_,
    }
    finished = T0 + timedelta(seconds=took) if took is not None else None
    run = RunView(uuid.uuid4(), status, stats, T0, finished, retrying, cancelled)
    return Progress("news", 1, 2, run)


@pytest.mark.parametrize(
    ("done", "total", "bar", "percent"),
    [
        (0, 10, "░" * 16, "0%"),
        (5, 10, "▓" * 8 + "░" * 8, "50%"),
        (9, 10, "▓" * 14 + "░" * 2, "90%"),
        (10, 10, "▓" * 16, "100%"),
        (1, 3, "▓" * 5 + "░" * 11, "33%"),
    ],
)
def test_progress_bar_and_percentage(done: int, total: int, bar: str, percent: str) -> None:
    text = texts.progress(view(RunStatus.RUNNING, done, total), T0 + timedelta(seconds=10))
    assert text.splitlines()[1] == f"{bar} {percent}"
    assert f"{done}/{total} jobs done" in text


def test_progress_shows_counts_retries_and_eta() -> None:
    text = texts.progress(
        view(RunStatus.RUNNING, 25, 100, 5, retrying=3), T0 + timedelta(seconds=60)
    )
    lines = text.splitlines()
    assert lines[0] == "▶️ news — running"
    assert lines[3] == "✅ 20 sent · ❌ 5 errors · 🔁 3 retries waiting"
    assert lines[4] == "ETA: ~3m 00s"
    paused = texts.progress(view(RunStatus.PAUSED, 25, 100), T0 + timedelta(seconds=60))
    assert paused.splitlines()[-1] == "ETA: paused"
    assert texts.progress(view(RunStatus.RUNNING, 0, 9), T0).endswith("ETA: estimating…")


@pytest.mark.parametrize(
    ("status", "first"),
    [
        (RunStatus.COMPLETED, "✅ news: completed 10/10"),
        (RunStatus.STOPPED, "⏹ news: stopped 10/10"),
        (RunStatus.FAILED, "❌ news: failed 10/10"),
    ],
)
def test_notice_first_line_says_how_it_ended(status: RunStatus, first: str) -> None:
    text = texts.notice(view(status, 10, 10, 2, took=75), [("@gone", "kicked")], more=True)
    assert text.splitlines() == [
        first,
        "Sent: 8 · Errors: 2",
        "Duration: 1m 15s",
        "Failed targets:",
        "• @gone — kicked",
        "…and more: /runs news",
    ]


def test_stopped_notice_says_what_was_cancelled() -> None:
    text = texts.notice(view(RunStatus.STOPPED, 3, 10, cancelled=7, took=5), [], more=False)
    assert "Cancelled: 7 job(s), never sent" in text


@pytest.mark.parametrize(
    "refusal",
    [
        errors.UnknownProject("news"),
        errors.BadName("News!"),
        errors.DuplicateName("news"),
        errors.NoTargets("news"),
        errors.NoMessages("news"),
        errors.AlreadyRunning("news"),
        errors.NotRunning("news"),
        errors.NotPaused("news"),
        errors.ProjectActive("news"),
    ],
)
def test_every_refusal_says_what_to_do_instead(refusal: errors.Refusal) -> None:
    text = texts.refusal(refusal)
    assert "/" in text  # a command to use instead
    assert not text.startswith("Refused:")


def test_echoed_input_is_shortened_and_replies_fit_one_message() -> None:
    huge = "x" * 10_000
    assert len(texts.refusal(errors.UnknownProject(huge))) < 200
    assert texts.shown("a\n\n  b") == "“a b”"
    assert len(texts.fit("y" * 10_000)) == texts.MAX_REPLY
    assert texts.usage("new") == "Usage: /new NAME — create a project (NAME: 1-64 of a-z 0-9 _ -)."


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (59.4, "59s"),
        (60, "1m 00s"),
        (3599, "59m 59s"),
        (7260, "2h 01m"),
        (3 * 86400 + 7200, "3d 02h"),
    ],
)
def test_durations(seconds: float, shown: str) -> None:
    assert texts.duration(seconds) == shown
