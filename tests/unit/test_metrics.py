"""The engine's series: counted on a registry of its own, named as the dashboard expects, and
the figures read at scrape time (agents, campaigns, pacing, the pool) computed right."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from pbx_engine.agents.states import AgentState, AgentStatus
from pbx_engine.ari import AriClient
from pbx_engine.ari.nodes import NodeRoom
from pbx_engine.config import AriConfig
from pbx_engine.metrics import EngineMetrics
from pbx_engine.metrics.floor import (
    FloorCollector,
    NodesCollector,
    PoolCollector,
    agents_by_state,
    campaign_figures,
)
from pbx_engine.metrics.series import NO_CAMPAIGN
from pbx_engine.pacing.policies import PredictivePolicy
from tests.integration.waiting import eventually


def _samples(metrics: EngineMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_given_two_engines_in_one_process_when_both_count_then_neither_sees_the_other():
    first, second = EngineMetrics(), EngineMetrics()  # the same names twice: no clash
    first.calls.placed("acme")
    assert _samples(first)[("pbx_engine_calls_placed_total", (("campaign", "acme"),))] == 1
    assert ("pbx_engine_calls_placed_total", (("campaign", "acme"),)) not in _samples(second)
    assert REGISTRY.get_sample_value("pbx_engine_calls_placed_total", {"campaign": "acme"}) is None


def test_given_a_call_when_it_is_counted_then_each_series_moves_under_its_labels():
    metrics = EngineMetrics()
    calls = metrics.calls
    calls.placed("acme")
    calls.placed(None)
    calls.answered("acme")
    calls.amd_verdict("human", "engine", 1.7)
    calls.amd_verdict("machine", "dialplan", None)  # answer not seen: counted, not timed
    calls.dead_air("acme", 0.12, agent_was_free=False)  # waited for an agent to finish
    calls.dead_air("acme", 0.004, agent_was_free=True)
    calls.abandoned("acme")
    calls.finished("acme", "abandoned")
    metrics.ari.event_handled(0.004)
    metrics.ari.event_handled(-0.5)  # a PBX clock ahead of ours
    metrics.ari.reconnected()
    metrics.database.query_finished(0.002)
    samples = _samples(metrics)

    assert samples[("pbx_engine_calls_placed_total", (("campaign", "acme"),))] == 1
    assert samples[("pbx_engine_calls_placed_total", (("campaign", NO_CAMPAIGN),))] == 1
    assert samples[("pbx_engine_calls_answered_total", (("campaign", "acme"),))] == 1
    assert samples[("pbx_engine_calls_abandoned_total", (("campaign", "acme"),))] == 1
    finished = ("pbx_engine_calls_finished_total", (("campaign", "acme"), ("outcome", "abandoned")))
    assert samples[finished] == 1
    human = ("pbx_engine_amd_verdicts_total", (("detector", "engine"), ("verdict", "human")))
    assert samples[human] == 1
    assert samples[("pbx_engine_amd_decision_seconds_count", (("detector", "engine"),))] == 1
    assert samples[("pbx_engine_amd_decision_seconds_sum", (("detector", "engine"),))] == 1.7
    assert ("pbx_engine_amd_decision_seconds_count", (("detector", "dialplan"),)) not in samples
    assert samples[("pbx_engine_dead_air_seconds_count", (("campaign", "acme"),))] == 2
    dead_air_le_02 = (
        "pbx_engine_dead_air_seconds_bucket",
        (("campaign", "acme"), ("le", "0.2")),
    )
    assert samples[dead_air_le_02] == 2
    # The engine's own part: only the call whose agent was free at the verdict.
    assert samples[("pbx_engine_bridge_seconds_count", (("campaign", "acme"),))] == 1
    assert samples[("pbx_engine_bridge_seconds_sum", (("campaign", "acme"),))] == 0.004
    assert samples[("pbx_engine_ari_event_lag_seconds_count", ())] == 2
    assert samples[("pbx_engine_ari_event_lag_seconds_sum", ())] == 0.004
    assert samples[("pbx_engine_ari_reconnects_total", ())] == 1
    assert samples[("pbx_engine_db_query_seconds_count", ())] == 1


def test_given_openmetrics_asked_for_then_the_scrape_is_in_that_format():
    metrics = EngineMetrics()
    body, content_type = metrics.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


def _agent(login: str, state: AgentState) -> AgentStatus:
    return AgentStatus(login, state, since=datetime.now(UTC) - timedelta(seconds=5))


def _runner(name: str, in_flight: int, *, agents=(), pacing=None, state="running"):
    return SimpleNamespace(
        campaign=SimpleNamespace(name=name, agents=list(agents)),
        state=SimpleNamespace(value=state),
        in_flight=in_flight,
        pacing=pacing,
    )


def test_agents_by_state_names_every_state_even_when_nobody_is_in_it():
    counts = agents_by_state([_agent("anna", AgentState.READY), _agent("piotr", AgentState.READY)])
    assert counts["ready"] == 2
    assert counts["on_call"] == 0
    assert set(counts) == {state.value for state in AgentState}


def test_given_a_campaign_when_figured_then_its_dial_level_counts_only_its_working_agents():
    statuses = [
        _agent("anna", AgentState.READY),
        _agent("piotr", AgentState.ON_CALL),
        _agent("oskar", AgentState.PAUSED),  # not working
        _agent("ewa", AgentState.READY),  # not of this campaign
    ]
    figures = campaign_figures(_runner("acme", 3, agents=["anna", "piotr", "oskar"]), statuses)
    assert figures.dial_level == 1.5
    assert figures.lines == 3
    assert figures.running
    assert figures.risk is None and figures.abandon_budget is None  # not predictive

    nobody = campaign_figures(_runner("acme", 2, agents=["oskar"]), statuses)
    assert nobody.dial_level == 0.0


def test_given_predictive_pacing_then_its_risk_and_abandon_budget_are_figured():
    policy = PredictivePolicy(abandon_target=0.03)
    policy.ledger.add(0.0, False, weight=100.0)  # 100 live answers...
    policy.ledger.add(1.0, True)  # ...and one abandon among 101
    figures = campaign_figures(_runner("acme", 0, pacing=SimpleNamespace(policy=policy)), [])
    assert figures.risk == policy.risk
    assert abs(figures.abandon_budget - (0.03 * 101 - 1)) < 1e-9


class _Pool:
    def get_size(self) -> int:
        return 4

    def get_idle_size(self) -> int:
        return 1

    def get_max_size(self) -> int:
        return 10


def test_given_the_floor_and_pool_watched_when_scraped_then_their_figures_are_read_then():
    metrics = EngineMetrics()
    statuses = [_agent("anna", AgentState.READY), _agent("piotr", AgentState.ON_CALL)]
    runners = [_runner("acme", 1), _runner("beta", 0, state="paused")]
    connected = {"ari": True}
    metrics.watch(FloorCollector(lambda: statuses, lambda: runners, lambda: connected["ari"]))
    metrics.watch(PoolCollector(_Pool()))

    samples = _samples(metrics)
    assert samples[("pbx_engine_agents", (("state", "ready"),))] == 1
    assert samples[("pbx_engine_agents", (("state", "logged_out"),))] == 0
    assert samples[("pbx_engine_campaign_dial_level", (("campaign", "acme"),))] == 0.5
    assert samples[("pbx_engine_campaign_lines", (("campaign", "acme"),))] == 1
    assert samples[("pbx_engine_campaign_running", (("campaign", "beta"),))] == 0
    assert samples[("pbx_engine_ari_connected", ())] == 1
    assert ("pbx_engine_ami_connected", ()) not in samples  # no AMI configured
    assert samples[("pbx_engine_db_pool_connections", ())] == 4
    assert samples[("pbx_engine_db_pool_connections_in_use", ())] == 3
    assert samples[("pbx_engine_db_pool_max_connections", ())] == 10

    statuses.append(_agent("ewa", AgentState.READY))
    connected["ari"] = False
    samples = _samples(metrics)
    assert samples[("pbx_engine_agents", (("state", "ready"),))] == 2
    assert samples[("pbx_engine_ari_connected", ())] == 0


def test_given_several_asterisk_nodes_when_scraped_then_each_is_up_or_down_with_its_channels():
    metrics = EngineMetrics()
    rooms = [NodeRoom("m1", True, 12, None), NodeRoom("m2", False, 3, 400)]
    metrics.watch(NodesCollector(lambda: rooms))
    samples = _samples(metrics)
    assert samples[("pbx_engine_asterisk_node_up", (("node", "m1"),))] == 1
    assert samples[("pbx_engine_asterisk_node_up", (("node", "m2"),))] == 0
    assert samples[("pbx_engine_asterisk_node_channels", (("node", "m1"),))] == 12


def test_the_series_list_names_every_sample_a_scrape_can_hold_before_any_has_a_value():
    metrics = EngineMetrics()
    metrics.watch(FloorCollector(list, list, lambda: True, lambda: True))
    metrics.watch(PoolCollector(_Pool()))
    series = metrics.series()
    assert {
        "pbx_engine_calls_placed_total",
        "pbx_engine_amd_decision_seconds_bucket",
        "pbx_engine_dead_air_seconds_sum",
        "pbx_engine_ari_event_lag_seconds_count",
        "pbx_engine_agents",
        "pbx_engine_pacing_abandon_budget",
        "pbx_engine_db_pool_connections_in_use",
        "pbx_engine_ami_connected",
    } <= series
    assert "pbx_engine_calls_placed" not in series  # a counter is scraped with _total


async def test_given_an_ari_websocket_that_drops_then_event_lag_and_reconnects_are_counted():
    """The ARI client against a stand-in for Asterisk's events websocket: each connection
    sends one event stamped 50 ms ago and closes."""
    connections = 0

    async def events(request: web.Request) -> web.WebSocketResponse:
        nonlocal connections
        connections += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        stamp = (datetime.now(UTC) - timedelta(milliseconds=50)).strftime("%Y-%m-%dT%H:%M:%S.%f")[
            :-3
        ]
        event = {"type": "StasisStart", "timestamp": f"{stamp}+0000", "args": []}
        event["channel"] = {"id": "c1", "name": "PJSIP/x"}
        await ws.send_str(json.dumps(event))
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ari/events", events)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    metrics = EngineMetrics()
    config = AriConfig(
        url=str(server.make_url("")),
        username="engine",
        password="not-a-placeholder-1",
        reconnect_initial=0.01,
        reconnect_max=0.02,
    )
    try:
        async with AriClient(config, metrics=metrics.ari) as ari:
            ari.on_event(lambda event: None)

            async def three_connections() -> bool:
                return connections >= 3

            await eventually(three_connections, interval=0.01, what="three connections")
    finally:
        await server.close()
    samples = _samples(metrics)
    assert samples[("pbx_engine_ari_reconnects_total", ())] >= 2
    handled = samples[("pbx_engine_ari_event_lag_seconds_count", ())]
    assert handled >= 2
    assert samples[("pbx_engine_ari_event_lag_seconds_sum", ())] >= 0.05 * handled
