"""Metrics and probes on the real sandboxes: a campaign's call moves the series Prometheus
scrapes, `/ready` answers 200 while ARI and the database are fine and 503 naming the database
once its server is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from pbx_engine.agents.states import AgentStatus
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.config import DatabaseConfig, parse_config
from pbx_engine.engine import Engine, build_engine
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour, Telephony
from pbx_engine.lab.sandbox.ports import free_port
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.storage import Storage, migrate
from pbx_engine.web.probes import build_metrics_app
from tests.integration.waiting import eventually

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: aiohttp.ClientSession, url: str) -> Samples:
    async with http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture
async def metrics_url(connected_engine: Engine) -> AsyncIterator[str]:
    """The shared engine's metrics site on a free port: its /metrics URL."""
    assert connected_engine.metrics is not None
    server = TestServer(
        build_metrics_app(connected_engine.readiness, connected_engine.metrics), host="127.0.0.1"
    )
    await server.start_server()
    yield str(server.make_url("/metrics"))
    await server.close()


async def test_given_a_campaign_call_put_through_then_the_scraped_series_move(
    connected_engine: Engine,
    ready_agent: AgentStatus,
    metrics_url: str,
):
    engine = connected_engine
    runner = await engine.add_campaign(
        CampaignConfig(
            name="metrics-test",
            dial_mode="progressive",
            compliance="plain",
            agents=["anna"],
            caller_id="+12025550999",
        )
    )
    case_id, _ = await engine.storage.cases.upsert_case(
        creditor="Acme",
        reference="M-TALK",
        debtor_name="M-TALK",
        amount_owed=Decimal("10.00"),
        currency="USD",
        numbers=[(PstnBehaviour.TALK.number("+120255507"), "mobile")],
        campaign_id=runner.campaign_id,
    )
    async with aiohttp.ClientSession() as http:
        before = await scrape(http, metrics_url)
        runner.start()
        try:

            async def bridged():
                row = await engine.storage.pool.fetchrow(
                    "SELECT channel_id, bridged_at FROM call_attempts WHERE case_id = $1", case_id
                )
                return row if row and row["bridged_at"] else None

            attempt = await eventually(bridged, timeout=20, what="the debtor to reach anna")
            during = await scrape(http, metrics_url)
            await engine.ari.hangup(attempt["channel_id"])  # anna ends the conversation

            async def finished():
                after = await scrape(http, metrics_url)
                done = moved(
                    before,
                    after,
                    "pbx_engine_calls_finished_total",
                    campaign="metrics-test",
                    outcome="human",
                )
                return after if done == 1 else None

            after = await eventually(finished, timeout=10, what="the call to be counted")
        finally:
            runner.stop()
        stopped = await scrape(http, metrics_url)

    campaign = {"campaign": "metrics-test"}
    assert moved(before, after, "pbx_engine_calls_placed_total", **campaign) == 1
    assert moved(before, after, "pbx_engine_calls_answered_total", **campaign) == 1
    human = {"verdict": "human", "detector": "engine"}
    assert moved(before, after, "pbx_engine_amd_verdicts_total", **human) == 1
    assert moved(before, after, "pbx_engine_amd_decision_seconds_count", detector="engine") == 1
    decided = moved(before, after, "pbx_engine_amd_decision_seconds_sum", detector="engine")
    assert 0.3 < decided < 10  # the engine detector hears "hello" and its silence
    assert moved(before, after, "pbx_engine_dead_air_seconds_count", **campaign) == 1
    assert moved(before, after, "pbx_engine_dead_air_seconds_sum", **campaign) < 2.0
    assert moved(before, after, "pbx_engine_ari_event_lag_seconds_count") > 5
    assert moved(before, after, "pbx_engine_db_query_seconds_count") > 5
    # Read at the scrape: anna on the call, one line of the campaign up.
    assert during[("pbx_engine_agents", (("state", "on_call"),))] >= 1
    assert during[("pbx_engine_campaign_lines", (("campaign", "metrics-test"),))] == 1
    assert during[("pbx_engine_campaign_dial_level", (("campaign", "metrics-test"),))] == 1
    assert during[("pbx_engine_campaign_running", (("campaign", "metrics-test"),))] == 1
    assert stopped[("pbx_engine_campaign_running", (("campaign", "metrics-test"),))] == 0
    assert after[("pbx_engine_ari_connected", ())] == 1
    assert after[("pbx_engine_ami_connected", ())] == 1
    assert after[("pbx_engine_db_pool_connections", ())] >= 1


async def test_given_the_shared_engine_then_it_is_ready_and_alive_without_credentials(api: str):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{api}/ready") as response:
            assert response.status == 200
            body = await response.json()
        async with http.get(f"{api}/health") as response:
            assert response.status == 200
    assert body == {
        "ready": True,
        "checks": {"ari": "ok", "database": "ok", "ami": "ok", "recording": "ok"},
        "not_ready": [],
    }


async def test_given_a_database_that_takes_no_writes_then_the_write_check_says_read_only(
    postgres: PostgresSandbox, database_dsn: str
):
    name = database_dsn.rsplit("/", 1)[1]
    admin = await asyncpg.connect(postgres.dsn())
    try:
        await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    finally:
        await admin.close()
    async with Storage.open(DatabaseConfig(dsn=database_dsn)) as storage:
        assert await storage.write_problem(timeout=2) == "read-only"
        assert await storage.ping()  # it answers reads all the same


async def test_given_its_database_server_stops_then_ready_is_503_naming_the_database(
    telephony: Telephony,
):
    """An engine of its own on a PostgreSQL cluster of its own (stopping the session's cluster
    would take every other test's database with it), and its own Stasis app on the shared PBX."""
    pbx = telephony.engine
    metrics_port = free_port()
    async with PostgresSandbox() as cluster:
        dsn = await cluster.create_database("ready_run")
        async with Storage.open(DatabaseConfig(dsn=dsn)) as storage:
            await migrate(storage.pool)
        config = parse_config(
            {
                "ari": {
                    "url": pbx.ari_url,
                    "username": pbx.ari_username,
                    "password": pbx.ari_password,
                    "app": "pbx-engine-ready",
                },
                "database": {"dsn": dsn, "allow_superuser": True},
                "metrics": {"port": metrics_port},
                "shutdown_grace": 1,
            },
            "ready-test",
            environ={},
        )
        base = f"http://127.0.0.1:{metrics_port}"
        async with build_engine(config) as engine, aiohttp.ClientSession() as http:
            async with http.get(f"{base}/ready") as response:
                assert response.status == 200
                assert (await response.json())["checks"] == {
                    "ari": "ok",
                    "database": "ok",
                    "recording": "ok",
                }

            await cluster.stop()

            async def not_ready():
                async with http.get(f"{base}/ready") as response:
                    return await response.json() if response.status == 503 else None

            body = await eventually(not_ready, timeout=10, what="/ready to say 503")
            assert body["not_ready"] == ["database"]
            assert body["checks"] == {"ari": "ok", "database": "unreachable", "recording": "ok"}
            async with http.get(f"{base}/health") as response:
                assert response.status == 200  # alive all the same
            assert engine.ari.connected.is_set()
