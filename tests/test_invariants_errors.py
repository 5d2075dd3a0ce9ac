"""Invariant 8: what each Telegram answer does to a job, on the engine and in the pure parts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage
from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from prometheus_client import REGISTRY

from herald.db.models import JobStatus, SendJob, Target
from herald.sandbox import Behaviour, Sandbox
from herald.scheduler.ratelimit import RateLimiter
from herald.scheduler.retry import DELIVERY_UNCERTAIN, Action, RetryPolicy
from tests.engine_kit import make_project, running_engine


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox() as sb:
        yield sb


def requests_to(sandbox: Sandbox, chat: int | str) -> int:
    ids = {chat, sandbox.chat_id(chat)}
    return sum(1 for call in sandbox.calls if call.chat in ids and call.method != "getUpdates")


def flood_waits() -> float:
    return REGISTRY.get_sample_value("herald_flood_waits_total") or 0.0


async def test_permanent_errors_fail_at_once_and_transient_ones_retry(
    db: str, sandbox: Sandbox
) -> None:
    behaviours = {
        "@kicked": Behaviour(forbidden=True),
        "@gone": Behaviour(not_found=True),
        "@mute": Behaviour(no_rights=True),
        "@long": Behaviour(too_long=True),
        "@flaky": Behaviour(fail_5xx=2),
        "@proxy": Behaviour(bad_gateway_html=1),
        "@fine": Behaviour(),
    }
    for chat, behaviour in behaviours.items():
        sandbox.add_channel(chat, behaviour)
    await make_project("inv8", list(behaviours), ["hello"])
    async with running_engine(sandbox, max_attempts=3) as h:
        run = await h.engine.start_run("inv8", chat_id=1)
        event = await h.wait_finished(run.id)
    jobs = {j.chat: j for j in await SendJob.filter(run_id=run.id)}
    for chat in ("@kicked", "@gone", "@mute", "@long"):
        assert (jobs[chat].status, jobs[chat].attempts) == (JobStatus.FAILED, 1), chat
        assert requests_to(sandbox, chat) == 1, chat
    assert "kicked" in (jobs["@kicked"].last_error or "")
    assert "chat not found" in (jobs["@gone"].last_error or "")
    assert "not enough rights" in (jobs["@mute"].last_error or "")
    assert "too long" in (jobs["@long"].last_error or "")
    expected = {"@flaky": 3, "@proxy": 2, "@fine": 1}
    for chat, attempts in expected.items():
        assert (jobs[chat].status, jobs[chat].attempts) == (JobStatus.SUCCEEDED, attempts), chat
        assert requests_to(sandbox, chat) == attempts
        assert len(sandbox.received(chat)) == 1
    assert event.stats == {
        "total_jobs": 7,
        "completed_jobs": 7,
        "success_count": 3,
        "error_count": 4,
    }


def record_arrivals(sandbox: Sandbox) -> list[float]:
    """When each send request reached the sandbox (before its latency and behaviour)."""
    arrivals: list[float] = []
    admit = sandbox.admit

    async def timed_admit(ref: int | str, *, send: bool) -> object:
        if send:
            arrivals.append(time.monotonic())
        return await admit(ref, send=send)

    sandbox.admit = timed_admit  # type: ignore[method-assign]
    return arrivals


async def test_flood_wait_holds_the_whole_bot_and_is_not_an_attempt(
    pg_db: str, sandbox: Sandbox
) -> None:
    sandbox.add_channel("@flood", Behaviour(flood=2, retry_after=1))
    calm = [f"@calm{i}" for i in range(6)]
    for chat in calm:
        sandbox.add_channel(chat, Behaviour(latency=0.1))
    texts = ["m0", "m1", "m2", "m3"]
    await make_project("flood", ["@flood", *calm], texts)
    waits_before = flood_waits()
    arrivals = record_arrivals(sandbox)
    floods: list[float] = []

    def on_error(event: JobExecutionEvent) -> None:
        if isinstance(event.exception, TelegramRetryAfter):
            floods.append(time.monotonic())

    # No rate limit: without the hold, each calm channel's next message (due once the
    # one before it is final) would be requested about 0.1 s after the previous one.
    async with running_engine(sandbox, rate_limit=0) as h:
        h.engine.scheduler.add_listener(on_error, EVENT_JOB_ERROR)
        run = await h.engine.start_run("flood", chat_id=1)
        event = await h.wait_finished(run.id)
    assert event.stats["success_count"] == 28
    job = await SendJob.get(run_id=run.id, chat="@flood", seq=0)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)
    assert requests_to(sandbox, "@flood") == 2 + 4
    assert flood_waits() == waits_before + 2
    assert len(floods) == 2
    # Each 429 stops every request, to every channel, for retry_after (1 s); requests
    # already on the wire when it came arrive within milliseconds.
    for flood in floods:
        assert not [t for t in arrivals if flood + 0.05 < t < flood + 0.95], flood
    assert [t for t in arrivals if t > floods[0] + 0.95], "nothing was held"
    for chat in ["@flood", *calm]:
        assert [m.text for m in sandbox.received(chat)] == texts


async def test_timeout_after_the_request_left_is_not_resent(db: str, sandbox: Sandbox) -> None:
    sandbox.add_channel("@late", Behaviour(timeout=2))
    sandbox.add_channel("@fine")
    await make_project("uncertain", ["@late", "@fine"], ["hello"])
    async with running_engine(sandbox, bot_timeout=0.5, send_timeout=0.5) as h:
        run = await h.engine.start_run("uncertain", chat_id=1)
        event = await h.wait_finished(run.id)
    job = await SendJob.get(run_id=run.id, chat="@late")
    assert (job.status, job.attempts, job.last_error) == (JobStatus.FAILED, 1, DELIVERY_UNCERTAIN)
    assert requests_to(sandbox, "@late") == 1
    assert len(sandbox.received("@late")) == 1  # it did arrive: resending would duplicate it
    assert event.stats["error_count"] == 1


async def test_migrated_group_is_sent_to_its_new_id(db: str, sandbox: Sandbox) -> None:
    sandbox.add_channel(-4001, Behaviour(migrate_to=-1004001))
    project = await make_project("migrate", ["-4001"], ["m0", "m1"])
    async with running_engine(sandbox) as h:
        run = await h.engine.start_run("migrate", chat_id=1)
        event = await h.wait_finished(run.id)
    assert [m.text for m in sandbox.received(-1004001)] == ["m0", "m1"]
    assert sandbox.received(-4001) == []
    jobs = await SendJob.filter(run_id=run.id)
    assert {(j.chat, j.status, j.attempts) for j in jobs} == {("-1004001", JobStatus.SUCCEEDED, 1)}
    assert [t.chat for t in await Target.filter(project_id=project.id)] == ["-1004001"]
    assert event.stats["success_count"] == 2


# --- the pure retry policy ----------------------------------------------------

METHOD = SendMessage(chat_id=1, text="x")


def network_error(cause: BaseException | None) -> TelegramNetworkError:
    exc = TelegramNetworkError(METHOD, "network")
    exc.__cause__ = cause
    return exc


def connector_error() -> aiohttp.ClientConnectorError:
    class _Key:
        host, port, ssl = "api.telegram.org", 443, True

    return aiohttp.ClientConnectorError(_Key(), OSError(111, "refused"))  # type: ignore[arg-type]


CASES = [
    ("429", TelegramRetryAfter(METHOD, "Too Many Requests", 7), 1, Action.FLOOD),
    ("429 on the last attempt", TelegramRetryAfter(METHOD, "Flood", 7), 3, Action.FLOOD),
    ("migrated", TelegramMigrateToChat(METHOD, "upgraded", -100123), 1, Action.MIGRATE),
    ("kicked", TelegramForbiddenError(METHOD, "Forbidden: bot was kicked"), 1, Action.FAIL),
    ("not found", TelegramBadRequest(METHOD, "Bad Request: chat not found"), 1, Action.FAIL),
    ("rights", TelegramBadRequest(METHOD, "Bad Request: not enough rights"), 1, Action.FAIL),
    ("too long", TelegramBadRequest(METHOD, "Bad Request: message is too long"), 1, Action.FAIL),
    ("5xx first", TelegramServerError(METHOD, "Internal Server Error"), 1, Action.RETRY),
    ("5xx second", TelegramServerError(METHOD, "Internal Server Error"), 2, Action.RETRY),
    ("5xx last", TelegramServerError(METHOD, "Internal Server Error"), 3, Action.FAIL),
    ("html 502", ClientDecodeError("bad", ValueError("json"), "<html>"), 1, Action.RETRY),
    ("cannot connect", network_error(connector_error()), 1, Action.RETRY),
    ("cannot connect, last", network_error(connector_error()), 3, Action.FAIL),
    ("timeout", network_error(TimeoutError()), 1, Action.FAIL),
    ("dropped", network_error(aiohttp.ServerDisconnectedError()), 1, Action.FAIL),
    ("no cause", network_error(None), 1, Action.FAIL),
    ("a bug", ValueError("unexpected"), 1, Action.FAIL),
]


@pytest.mark.parametrize(
    ("exc", "attempt", "action"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_retry_policy_decides(exc: BaseException, attempt: int, action: Action) -> None:
    decision = RetryPolicy(max_attempts=3, base=1.0).decide(exc, attempt)
    assert decision.action == action
    if action == Action.FLOOD:
        assert decision.delay == 7
    if action == Action.MIGRATE:
        assert decision.new_chat == -100123
    if action == Action.RETRY:
        assert 2 ** (attempt - 1) / 2 <= decision.delay <= 2 ** (attempt - 1)


@pytest.mark.parametrize("cause", [TimeoutError(), aiohttp.ServerDisconnectedError(), None])
def test_uncertain_delivery_is_named(cause: BaseException | None) -> None:
    decision = RetryPolicy().decide(network_error(cause), 1)
    assert (decision.action, decision.reason) == (Action.FAIL, DELIVERY_UNCERTAIN)


def test_last_transient_failure_says_how_many_attempts() -> None:
    decision = RetryPolicy(max_attempts=4).decide(TelegramServerError(METHOD, "Bad Gateway"), 4)
    assert decision.reason == "Bad Gateway (after 4 attempts)"


@pytest.mark.parametrize(
    ("attempt", "low", "high"), [(1, 0.5, 1), (2, 1, 2), (3, 2, 4), (7, 30, 60), (20, 30, 60)]
)
def test_backoff_doubles_with_jitter_up_to_the_cap(attempt: int, low: float, high: float) -> None:
    policy = RetryPolicy(base=1.0, cap=60.0)
    assert policy.backoff(attempt, rand=0.0) == low
    assert policy.backoff(attempt, rand=1.0) == high
    draws = [policy.backoff(attempt) for _ in range(200)]
    assert all(low <= d <= high for d in draws)
    assert len(set(draws)) > 100, "no jitter: retries of a burst would stay in lockstep"


# --- the rate limiter -----------------------------------------------------------


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_limiter_never_grants_more_than_n_in_any_second() -> None:
    limiter = RateLimiter(20)
    granted: list[float] = []

    async def take() -> None:
        await limiter.acquire()
        granted.append(time.monotonic())

    await asyncio.gather(*(take() for _ in range(25)))
    assert 15 <= max_in_window(granted) <= 20
    assert granted[-1] - granted[0] >= 1.0  # the 21st grant waited for the window to slide


async def test_priority_acquirers_go_first() -> None:
    limiter = RateLimiter(1)
    await limiter.acquire()  # the window is full for the next second
    order: list[str] = []

    async def take(name: str, priority: bool) -> None:
        await limiter.acquire(priority=priority)
        order.append(name)

    # Tasks start in creation order: the broadcast sends are queued before the operator.
    broadcast = [asyncio.create_task(take(f"send{i}", False)) for i in range(3)]
    await asyncio.create_task(take("operator", True))
    assert order == ["operator"]
    for task in broadcast:
        task.cancel()
    await asyncio.gather(*broadcast, return_exceptions=True)


@pytest.mark.parametrize("rate", [0, 100])
async def test_hold_blocks_every_acquirer(rate: float) -> None:
    limiter = RateLimiter(rate)
    limiter.hold(0.3)
    started = time.monotonic()
    done: list[float] = []

    async def take(priority: bool) -> None:
        await limiter.acquire(priority=priority)
        done.append(time.monotonic() - started)

    await asyncio.gather(take(False), take(True), take(False))
    assert len(done) == 3
    assert min(done) >= 0.29


async def test_a_token_comes_back_a_period_after_its_request_ends() -> None:
    """Telegram counts arrivals: a slow request must not free its place in the window early."""
    limiter = RateLimiter(3)  # 3 tokens a second, one kept for operator replies
    started = time.monotonic()

    async def slow_request() -> None:
        async with limiter.slot():
            await asyncio.sleep(0.2)

    await asyncio.gather(slow_request(), slow_request())
    await limiter.take()  # the third broadcast send waits for the first token back
    assert time.monotonic() - started >= 1.2
    limiter.release(used=False)


async def test_an_unused_token_comes_back_at_once() -> None:
    limiter = RateLimiter(2)
    await limiter.take()
    limiter.release(used=False)
    async with asyncio.timeout(0.1):
        await limiter.take()
