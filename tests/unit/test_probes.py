"""The probes and the metrics site: `/health` answers while the process serves, `/ready` only
when ARI, the database and AMI are fine (naming what is not), `/metrics` only on its own site,
and none of them asks for credentials."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from unittest.mock import MagicMock

from aiohttp.test_utils import TestClient, TestServer

from pbx_engine.ari import AriUnavailable
from pbx_engine.config import WebConfig
from pbx_engine.metrics import EngineMetrics
from pbx_engine.readiness import Readiness, check_readiness
from pbx_engine.web.api import build_app
from pbx_engine.web.probes import build_metrics_app


class _Ari:
    def __init__(self, *, connected: bool = True, registered: bool = True) -> None:
        self.connected = asyncio.Event()
        if connected:
            self.connected.set()
        self._registered = registered

    async def get_application(self) -> dict:
        if not self._registered:
            raise AriUnavailable("GET /applications/pbx-engine: refused")
        return {"name": "pbx-engine"}


class _Storage:
    def __init__(self, problem: str | None = None) -> None:
        self.problem = problem
        self.campaigns = None  # filed by build_app, never asked here

    async def write_problem(self, timeout: float) -> str | None:
        return self.problem


def _engine(*, ari=None, storage=None, ami=None):
    # build_app files the engine's other parts under their keys; only readiness is asked here.
    engine = MagicMock()
    engine.storage = storage or _Storage()
    ari = ari or _Ari()
    engine.readiness = lambda: check_readiness(ari, engine.storage, ami)
    return engine


def test_readiness_names_each_check_and_lists_those_that_failed():
    readiness = Readiness({"ari": None, "database": "unreachable"})
    assert not readiness.ready
    assert readiness.as_json() == {
        "ready": False,
        "checks": {"ari": "ok", "database": "unreachable"},
        "not_ready": ["database"],
    }
    assert Readiness({"ari": None}).ready


async def test_given_everything_up_then_ready_and_ami_checked_only_when_configured():
    ready = await check_readiness(_Ari(), _Storage(), None)
    assert ready.problems == {"ari": None, "database": None}
    with_ami = await check_readiness(_Ari(), _Storage(), SimpleNamespace(logged_in=False))
    assert with_ami.problems["ami"] == "not logged in"


async def test_given_the_websocket_down_or_the_app_unknown_then_ari_is_not_ready():
    down = await check_readiness(_Ari(connected=False), _Storage(), None)
    assert down.problems["ari"] == "events websocket not connected"
    unknown = await check_readiness(_Ari(registered=False), _Storage(), None)
    assert unknown.problems["ari"] == "Stasis application not registered"


async def test_given_the_api_app_then_health_is_200_and_ready_503_naming_the_database():
    engine = _engine(storage=_Storage("read-only"))
    async with TestClient(TestServer(build_app(engine, WebConfig(mode="development")))) as http:
        async with http.get("/health") as response:
            assert response.status == 200
            assert await response.json() == {"alive": True}
        async with http.get("/ready") as response:  # no credentials: still answered
            assert response.status == 503
            body = await response.json()
            assert body["not_ready"] == ["database"]
            assert body["checks"]["database"] == "read-only"
        engine.storage.problem = None
        async with http.get("/ready") as response:
            assert response.status == 200
            assert (await response.json())["ready"] is True
        async with http.get("/metrics") as response:
            assert response.status == 401  # not on the API: there it is an unknown, closed path


async def test_given_the_metrics_site_then_it_serves_the_scrape_and_the_probes():
    metrics = EngineMetrics()
    metrics.calls.placed("acme")
    app = build_metrics_app(_engine(ari=_Ari(connected=False)).readiness, metrics)
    async with TestClient(TestServer(app)) as http:
        async with http.get("/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=")
            text = await response.text()
            assert 'pbx_engine_calls_placed_total{campaign="acme"} 1.0' in text
        async with http.get("/health") as response:
            assert response.status == 200
        async with http.get("/ready") as response:
            assert response.status == 503
            assert (await response.json())["not_ready"] == ["ari"]
