"""HTTP endpoints for Prometheus scraping (``/metrics``) and liveness probes (``/healthz``).

The server runs inside Herald's own event loop (aiohttp), so a scrape needs no extra thread and
a wedged loop shows up as a failed scrape (HeraldDown) rather than stale numbers.
Herald's configuration treats ``HERALD_METRICS_PORT=0`` as "disabled" and then never calls
:func:`start_metrics_server`; passing port 0 here binds an ephemeral port (used by tests), and
:attr:`MetricsServer.port` reports the port actually bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder

import herald.metrics.registry  # noqa: F401  (registers the contract metrics on REGISTRY)

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[dict[str, bool]]]

#: A probe that cannot answer within this many seconds is as bad as a failing one.
HEALTH_TIMEOUT_SECONDS = 2.0


@dataclass
class MetricsServer:
    """A running metrics server; keep it to :meth:`close` it on shutdown."""

    runner: web.AppRunner
    host: str
    port: int

    async def close(self) -> None:
        """Stop listening and release the socket (idempotent)."""
        await self.runner.cleanup()


def _failure_reason(checks: dict[str, bool]) -> str:
    """Name the failing checks, e.g. ``"database down"``, so the operator knows where to look."""
    return ", ".join(f"{name} down" for name, ok in checks.items() if not ok)


async def _evaluate(health: HealthCheck, limit: float) -> tuple[dict[str, bool], str | None]:
    """Run the health callable; return its checks and a failure reason (None when healthy).

    A callable that raises or hangs is reported as unhealthy instead of failing the request,
    because a probe that errors out tells the supervisor less than a 503 with a reason.
    """
    try:
        async with asyncio.timeout(limit):
            result = await health()
    except TimeoutError:
        return {}, f"health check timed out after {limit:g}s"
    except Exception as exc:  # a broken check must still produce an answer
        log.warning("health check raised", exc_info=True)
        return {}, f"health check failed: {type(exc).__name__}: {exc}"
    checks = {str(name): bool(ok) for name, ok in result.items()}
    if all(checks.values()):
        return checks, None
    return checks, _failure_reason(checks)


def build_app(
    health: HealthCheck,
    *,
    registry: CollectorRegistry = REGISTRY,
    health_timeout: float = HEALTH_TIMEOUT_SECONDS,
) -> web.Application:
    """Build the aiohttp application; separate from serving so it can be mounted elsewhere."""

    async def metrics(request: web.Request) -> web.Response:
        # Same content negotiation as prometheus-client's own servers: the classic text format
        # (generate_latest) by default, OpenMetrics when the scraper asks for it.
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(registry), headers={"Content-Type": content_type})

    async def healthz(request: web.Request) -> web.Response:
        checks, reason = await _evaluate(health, health_timeout)
        if reason is None:
            return web.json_response({"status": "ok", "checks": checks})
        body = {"status": "unhealthy", "checks": checks, "reason": reason}
        return web.json_response(body, status=503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


async def start_metrics_server(
    host: str,
    port: int,
    health: HealthCheck,
    *,
    registry: CollectorRegistry = REGISTRY,
    health_timeout: float = HEALTH_TIMEOUT_SECONDS,
) -> MetricsServer:
    """Serve ``/metrics`` and ``/healthz`` on ``host:port`` until :meth:`MetricsServer.close`.

    ``port=0`` binds an ephemeral port (tests); Herald itself skips the call when its configured
    port is 0. Access logging is off because Prometheus scrapes every few seconds.
    """
    app = build_app(health, registry=registry, health_timeout=health_timeout)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = runner.addresses[0][1] if runner.addresses else port
    log.info("metrics server listening on %s:%d", host, bound_port)
    return MetricsServer(runner=runner, host=host, port=bound_port)
