"""`herald serve` as a whole: fail-fast checks, graceful shutdown, fatal Telegram answers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from herald.bot.app import serve
from herald.bot.daemon import RedactToken
from herald.db.connection import SchemaNotReady, close_database, open_database
from herald.db.models import JobStatus, SendJob
from herald.sandbox import Behaviour, Sandbox
from tests.botkit import ADMIN, TOKEN, Operator, settings_for

SECRET = TOKEN.split(":")[1]


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox() as sb:
        yield sb


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def logged(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


async def serving(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    await sandbox.wait_for(lambda: logged(caplog, "Herald serving as"), timeout=10)


async def test_serve_answers_drains_and_stops_cleanly(
    sandbox: Sandbox, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sandbox.add_channel("@slow_channel", Behaviour(latency=0.5))
    port = free_port()
    settings = settings_for(sandbox, sqlite_url, metrics_port=port)
    stop = asyncio.Event()
    daemon = asyncio.create_task(serve(settings, stop=stop))
    await serving(sandbox, caplog)
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        assert response.status == 200
    op = Operator(sandbox)
    await op.ask("/new news")
    await op.ask("/targets news @slow_channel")
    await op.ask("/message news one")
    await op.ask("/message news two")
    await op.send("/run news")
    replies = sandbox.stats.requests["sendMessage"]  # the progress message was the last
    await sandbox.wait_for(lambda: sandbox.stats.requests["sendMessage"] > replies)
    stop.set()  # as SIGTERM would, while the first send is in flight
    assert await daemon == 0
    assert [m.text for m in sandbox.received("@slow_channel")] == ["one"]
    await open_database(sqlite_url)
    try:
        statuses = await SendJob.all().order_by("seq").values_list("status", flat=True)
    finally:
        await close_database()
    assert statuses == [JobStatus.SUCCEEDED, JobStatus.PENDING]  # the next start resumes
    assert len(logged(caplog, "Herald stopped after")) == 1
    assert SECRET not in caplog.text


async def test_sigterm_shuts_down_gracefully(
    sandbox: Sandbox, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    daemon = asyncio.create_task(serve(settings_for(sandbox, sqlite_url)))
    await serving(sandbox, caplog)
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(daemon, 10) == 0
    assert logged(caplog, "Received SIGTERM")


async def test_a_rejected_token_stops_with_one_clear_message(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with Sandbox(token="123456789:the-right-one") as sandbox:
        assert await serve(settings_for(sandbox, sqlite_url)) == 1
    assert logged(caplog, "rejected HERALD_BOT_TOKEN (401 Unauthorized)")
    assert SECRET not in caplog.text


async def test_a_second_instance_stops_with_one_clear_message(
    sandbox: Sandbox, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    other = sandbox.bot()

    async def poll_forever() -> None:
        while True:
            await other.get_updates(timeout=30)

    first = asyncio.create_task(poll_forever())
    await sandbox.wait_for(lambda: sandbox.updates._poller_active)
    try:
        assert await asyncio.wait_for(serve(settings_for(sandbox, sqlite_url)), 20) == 1
    finally:
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        await other.session.close()
    assert len(logged(caplog, "another instance is polling with this bot token")) == 1
    assert SECRET not in caplog.text


async def test_an_unmigrated_database_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(SchemaNotReady, match="herald migrate"):
        await serve(settings_for(sandbox, f"sqlite://{tmp_path / 'empty.db'}"))


async def test_empty_admins_are_announced_at_start(
    sandbox: Sandbox, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    stop = asyncio.Event()
    stop.set()
    settings = settings_for(sandbox, sqlite_url, admins=frozenset())
    assert await serve(settings, stop=stop) == 0
    assert logged(caplog, "HERALD_ADMINS is empty: nobody may operate")
    assert ADMIN not in settings.admins


def test_the_token_is_redacted_from_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    redact = RedactToken(TOKEN)
    caplog.handler.addFilter(redact)
    try:
        logging.getLogger("herald.test").warning("POST https://api/bot%s/getMe failed", TOKEN)
        try:
            raise RuntimeError(f"url https://api/bot{TOKEN}/sendMessage")
        except RuntimeError:
            logging.getLogger("herald.test").exception("request failed")
    finally:
        caplog.handler.removeFilter(redact)
    assert "bot<token>/getMe" in caplog.records[0].getMessage()
    assert SECRET not in caplog.text


async def test_running_herald_exposes_every_metric_of_dashboard_and_alerts(
    sandbox: Sandbox, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """What Grafana and the alert rules query is what a running `herald serve` exposes."""
    import re

    from tests.test_ops_files import ALERTS, DASHBOARD, HERALD_NAME

    caplog.set_level(logging.INFO)
    port = free_port()
    stop = asyncio.Event()
    daemon = asyncio.create_task(
        serve(settings_for(sandbox, sqlite_url, metrics_port=port), stop=stop)
    )
    try:
        await serving(sandbox, caplog)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            assert response.status == 200
            body = await response.text()
    finally:
        stop.set()
        assert await daemon == 0
    # Sample names (with _total, _bucket, …) and family names (`# TYPE herald_x histogram`).
    exposed = set(re.findall(r"^(?:# TYPE )?(herald_\w+)", body, flags=re.MULTILINE))
    used = set(HERALD_NAME.findall(ALERTS.read_text())) | set(
        HERALD_NAME.findall(DASHBOARD.read_text())
    )
    assert used
    assert used <= exposed, f"queried but not exposed: {sorted(used - exposed)}"
