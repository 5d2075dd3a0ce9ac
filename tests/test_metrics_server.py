"""The /metrics and /healthz endpoints, over a real loopback socket with a real HTTP client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from herald.metrics import registry
from herald.metrics.server import MetricsServer, start_metrics_server

Health = Callable[[], Awaitable[dict[str, bool]]]


async def _all_ok() -> dict[str, bool]:
    return {"database": True, "scheduler": True}


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[MetricsServer]]]:
    """Start servers on ephemeral loopback ports and close them all after the test."""
    servers: list[MetricsServer] = []

    async def start(health: Health = _all_ok, **kwargs: float) -> MetricsServer:
        server = await start_metrics_server("127.0.0.1", 0, health, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


async def _get(server: MetricsServer, path: str) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{server.port}{path}") as response,
    ):
        return response.status, response.headers["Content-Type"], await response.text()


@pytest.mark.asyncio
async def test_binds_an_ephemeral_port_and_closes(serve) -> None:
    server = await serve()
    assert server.port > 0
    await server.close()
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(server, "/metrics")


@pytest.mark.asyncio
async def test_metrics_exposes_every_contract_metric_and_label(serve) -> None:
    server = await serve()
    status, content_type, body = await _get(server, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")

    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample.labels)

    for name in registry.METRIC_NAMES:
        assert name in samples or f"{name}_bucket" in samples, name
    outcomes = {labels["outcome"] for labels in samples["herald_jobs_finished_total"]}
    assert outcomes == set(registry.JOB_OUTCOMES) == {"success", "error"}
    statuses = {labels["status"] for labels in samples["herald_runs_finished_total"]}
    assert statuses == set(registry.RUN_STATUSES) == {"completed", "stopped", "failed"}
    buckets = {labels["le"] for labels in samples["herald_send_duration_seconds_bucket"]}
    assert {"0.01", "10.0", "+Inf"} <= buckets


@pytest.mark.asyncio
async def test_metrics_reflect_updates(serve) -> None:
    server = await serve()
    registry.RUNS_ACTIVE.set(3)
    try:
        _, _, body = await _get(server, "/metrics")
    finally:
        registry.RUNS_ACTIVE.set(0)
    assert "herald_runs_active 3.0" in body.splitlines()


@pytest.mark.asyncio
async def test_metrics_speaks_openmetrics_when_asked(serve) -> None:
    server = await serve()
    url = f"http://127.0.0.1:{server.port}/metrics"
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await resp.text()).rstrip().endswith("# EOF")


@pytest.mark.asyncio
async def test_healthz_ok_when_every_check_passes(serve) -> None:
    server = await serve()
    status, content_type, body = await _get(server, "/healthz")
    assert status == 200
    assert content_type.startswith("application/json")

    assert json.loads(body) == {"status": "ok", "checks": {"database": True, "scheduler": True}}


@pytest.mark.asyncio
async def test_healthz_503_names_the_failing_check(serve) -> None:
    async def database_down() -> dict[str, bool]:
        return {"database": False, "scheduler": True}

    server = await serve(database_down)
    status, _, body = await _get(server, "/healthz")

    assert status == 503
    assert json.loads(body) == {
        "status": "unhealthy",
        "checks": {"database": False, "scheduler": True},
        "reason": "database down",
    }


@pytest.mark.asyncio
async def test_healthz_503_when_the_check_raises(serve) -> None:
    async def broken() -> dict[str, bool]:
        raise RuntimeError("pool closed")

    server = await serve(broken)
    status, _, body = await _get(server, "/healthz")

    payload = json.loads(body)
    assert status == 503
    assert payload["status"] == "unhealthy"
    assert "pool closed" in payload["reason"]


@pytest.mark.asyncio
async def test_healthz_503_when_the_check_hangs(serve) -> None:
    never = asyncio.Event()  # never set: the check hangs until the server's deadline

    async def hung() -> dict[str, bool]:
        await never.wait()
        return {"database": True}

    server = await serve(hung, health_timeout=0.05)
    status, _, body = await _get(server, "/healthz")

    payload = json.loads(body)
    assert status == 503
    assert payload["status"] == "unhealthy"
    assert "timed out" in payload["reason"]


def test_default_health_deadline_is_two_seconds() -> None:
    from herald.metrics import server

    assert server.HEALTH_TIMEOUT_SECONDS == 2.0
