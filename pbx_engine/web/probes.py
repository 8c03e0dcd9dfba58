"""The probes (`GET /health`, `GET /ready`) and the metrics site.

The probes need no credentials (as an orchestrator or a load balancer calls them) and reveal
nothing sensitive: `/health` answers 200 for as long as the process serves HTTP; `/ready` 200
only when the engine can do its work (see `pbx_engine.readiness`), else 503 naming what is
not ready. Both are on the API's app and on the metrics site.

`/metrics` is served only on the metrics site, a port of its own (`[metrics]`, loopback by
default) and never on the public API: call volumes, agent counts and pacing are business
figures. Put it behind a firewall or a proxy with authentication if Prometheus scrapes it from
another host.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from pbx_engine.config import MetricsConfig
from pbx_engine.metrics import EngineMetrics
from pbx_engine.readiness import Readiness
from pbx_engine.web.common import READINESS

METRICS = web.AppKey("metrics", EngineMetrics)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"alive": True})


async def ready(request: web.Request) -> web.Response:
    readiness = await request.app[READINESS]()
    return web.json_response(readiness.as_json(), status=200 if readiness.ready else 503)


async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[METRICS].exposition(request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})


def add_probe_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)


def build_metrics_app(
    readiness: Callable[[], Awaitable[Readiness]], engine_metrics: EngineMetrics
) -> web.Application:
    """The metrics site: `/metrics` and the probes, no credentials (keep it off the public
    network)."""
    app = web.Application()
    app[READINESS] = readiness
    app[METRICS] = engine_metrics
    app.router.add_get("/metrics", metrics)
    add_probe_routes(app)
    return app


@asynccontextmanager
async def serve_metrics(
    readiness: Callable[[], Awaitable[Readiness]],
    engine_metrics: EngineMetrics,
    config: MetricsConfig,
) -> AsyncIterator[None]:
    runner = web.AppRunner(build_metrics_app(readiness, engine_metrics), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port).start()
        yield
    finally:
        await runner.cleanup()
