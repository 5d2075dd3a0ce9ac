"""`herald demo`: the whole flow offline, through the same code `herald serve` runs.

A Bot API sandbox on loopback stands in for Telegram (a few of its channels
fail now and then, a few for good), an embedded SQLite database lives in a
temporary directory, and the operator's commands reach the real dispatcher as
updates. The terminal shows a live progress bar, then the completion notice,
the run's stats and a metrics summary. Nothing is left behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import tempfile
import time
from pathlib import Path

from prometheus_client import REGISTRY

from herald.bot.app import App
from herald.config import Settings
from herald.db.connection import apply_migrations, close_database, open_database
from herald.db.models import ProcessRun, Project
from herald.sandbox import Behaviour, Sandbox

OPERATOR = 1000001
PROJECT = "demo"
TEXT = "Herald demo: hello, channel! This message reached you through a real run."
NOTICE = re.compile(r": (completed|stopped|failed) \d+/\d+$")


def _channels(sandbox: Sandbox, count: int) -> list[str]:
    """Sandbox channels: most healthy, some failing for a while, a few for good."""
    names = []
    for i in range(count):
        name = f"@demo_channel_{i:04d}"
        if i == 42:
            behaviour = Behaviour(flood=1, retry_after=1)  # a 429 that holds the whole bot
        elif i % 97 == 13:
            behaviour = Behaviour(forbidden=True)  # the bot was kicked
        elif i % 89 == 7:
            behaviour = Behaviour(not_found=True)
        elif i % 11 == 5:
            behaviour = Behaviour(fail_5xx=1 + i % 2)  # recovers on a retry
        else:
            behaviour = Behaviour()
        sandbox.add_channel(name, behaviour)
        names.append(name)
    return names


async def _say(sandbox: Sandbox, text: str) -> None:
    """The operator types a command; wait until the bot answered it."""
    before = len(sandbox.received(OPERATOR))
    sandbox.operator_message(OPERATOR, text)
    await sandbox.wait_for(lambda: len(sandbox.received(OPERATOR)) > before, timeout=30)


def _draw(stats: dict[str, int], started: float, final: bool = False) -> None:
    done, total = stats.get("completed_jobs", 0), max(1, stats.get("total_jobs", 1))
    width = 30
    filled = width * done // total
    bar = "█" * filled + "░" * (width - filled)
    line = (
        f"\r  [{bar}] {done}/{total} {100 * done // total:3d}%  "
        f"sent {stats.get('success_count', 0)}  errors {stats.get('error_count', 0)}  "
        f"{time.monotonic() - started:5.1f}s"
    )
    if sys.stdout.isatty() or final:
        print(line, end="\n" if final else "", flush=True)


async def _watch(sandbox: Sandbox) -> str:
    """Draw the progress bar until the completion notice arrives; return its text."""
    started = time.monotonic()
    project = await Project.get(name=PROJECT)
    while True:
        run = await ProcessRun.filter(project_id=project.id).order_by("-created_at").first()
        stats = dict(run.stats) if run else {}
        for message in sandbox.received(OPERATOR):
            if message.text and NOTICE.search(message.text.splitlines()[0]):
                _draw(stats, started, final=True)
                return message.text
        _draw(stats, started)
        await asyncio.sleep(0.1)  # a display refresh rate, not synchronisation


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _metrics_summary() -> str:
    count = _metric("herald_send_duration_seconds_count")
    mean = _metric("herald_send_duration_seconds_sum") / count if count else 0.0
    rows = [
        (
            "herald_jobs_finished_total{outcome=success}",
            f"{_metric('herald_jobs_finished_total', outcome='success'):.0f}",
        ),
        (
            "herald_jobs_finished_total{outcome=error}",
            f"{_metric('herald_jobs_finished_total', outcome='error'):.0f}",
        ),
        ("herald_job_retries_total", f"{_metric('herald_job_retries_total'):.0f}"),
        ("herald_flood_waits_total", f"{_metric('herald_flood_waits_total'):.0f}"),
        ("herald_send_duration_seconds", f"mean {mean * 1000:.1f} ms over {count:.0f} sends"),
    ]
    return "\n".join(f"  {name:<46} {value}" for name, value in rows)


async def demo(targets: int = 300, rate: float = 100) -> int:
    if targets < 1 or rate < 0:
        print("herald demo: --targets must be at least 1 and --rate 0 or more", file=sys.stderr)
        return 2
    # The staged failures are the point of the demo; the notice lists them, so the
    # engine's one line per final failure would only scribble over the progress bar.
    logging.getLogger("herald.scheduler.engine").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="herald-demo-") as tmp:
        url = f"sqlite://{Path(tmp) / 'herald.db'}"
        await apply_migrations(url)
        async with Sandbox() as sandbox:
            sandbox.add_user(OPERATOR, username="operator")
            chats = _channels(sandbox, targets)
            settings = Settings(
                bot_token="123456789:demo-token",
                telegram_api=sandbox.url,
                database_url=url,
                admins=frozenset({OPERATOR}),
                metrics_port=0,
                rate_limit=rate,
            )
            await open_database(url)
            bot = sandbox.bot()
            app = App(settings, bot, progress_interval=1.0, engine_options={"retry_base": 0.2})
            try:
                await app.start()
                app.start_polling()
                print(f"Herald demo: {targets} sandbox channels, SQLite in {tmp}")
                await _say(sandbox, f"/new {PROJECT}")
                for i in range(0, len(chats), 150):
                    await _say(sandbox, f"/targets {PROJECT} " + " ".join(chats[i : i + 150]))
                await _say(sandbox, f"/message {PROJECT} {TEXT}")
                print(f"Operator: /run {PROJECT}")
                sandbox.operator_message(OPERATOR, f"/run {PROJECT}")
                notice = await _watch(sandbox)
                project = await Project.get(name=PROJECT)
                run = await ProcessRun.filter(project_id=project.id).order_by("-created_at").first()
                print("\nCompletion notice, as the operator sees it:\n")
                print("  " + notice.replace("\n", "\n  "))
                print("\nprocess_runs.stats:", json.dumps(run.stats if run else {}))
                print(f"project status: {project.status}")
                print("\nMetrics:\n" + _metrics_summary())
            finally:
                await app.close()
                await bot.session.close()
                await close_database()
    return 0
