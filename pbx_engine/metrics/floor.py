"""Figures read from the engine's own state when Prometheus scrapes, not counted as they
change: agents by state, each campaign's lines, dial level and pacing, the database pool.

Reading them costs a pass over the agents and campaigns in memory, once per scrape; keeping
gauges up to date at every change would cost that at every agent state change instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from pbx_engine.agents.states import AgentState, AgentStatus
from pbx_engine.pacing.policies import PredictivePolicy

if TYPE_CHECKING:
    import asyncpg

    from pbx_engine.ari.nodes import NodeRoom
    from pbx_engine.dialer.campaign import CampaignRunner
    from pbx_engine.metrics.series import EngineMetrics

# Agents who can take a call now or are on one: a campaign's lines are spread over them.
WORKING = (AgentState.READY, AgentState.RESERVED, AgentState.ON_CALL)


@dataclass(frozen=True)
class CampaignFigures:
    name: str
    running: bool
    lines: int  # calls in flight
    dial_level: float  # lines per working agent (the wallboard's figure)
    risk: float | None  # predictive pacing's learned abandon risk; None for other policies
    abandon_budget: float | None  # abandons still within target so far (negative: over it)


def agents_by_state(statuses: Iterable[AgentStatus]) -> dict[str, int]:
    """How many agents are in each state, every state named (0 for none)."""
    counts = {state.value: 0 for state in AgentState}
    for status in statuses:
        counts[status.state.value] += 1
    return counts


def campaign_figures(runner: CampaignRunner, statuses: list[AgentStatus]) -> CampaignFigures:
    members = set(runner.campaign.agents) or None
    working = sum(
        1
        for status in statuses
        if status.state in WORKING and (members is None or status.login in members)
    )
    policy = runner.pacing.policy if runner.pacing is not None else None
    predictive = policy if isinstance(policy, PredictivePolicy) else None
    return CampaignFigures(
        name=runner.campaign.name,
        running=runner.state.value == "running",
        lines=runner.in_flight,
        dial_level=runner.in_flight / working if working else 0.0,
        risk=predictive.risk if predictive else None,
        abandon_budget=(
            predictive.abandon_target * predictive.ledger.lives - predictive.ledger.abandons
            if predictive
            else None
        ),
    )


class FloorCollector:
    """Agents, campaigns and the PBX connections, as they are at the scrape."""

    def __init__(
        self,
        agents: Callable[[], list[AgentStatus]],
        campaigns: Callable[[], Iterable[CampaignRunner]],
        ari_connected: Callable[[], bool],
        ami_logged_in: Callable[[], bool] | None = None,
    ) -> None:
        self._agents = agents
        self._campaigns = campaigns
        self._ari_connected = ari_connected
        self._ami_logged_in = ami_logged_in

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        agents, running, lines, level, risk, budget, ari, ami = families
        statuses = self._agents()
        for state, count in agents_by_state(statuses).items():
            agents.add_metric([state], count)
        for runner in self._campaigns():
            figures = campaign_figures(runner, statuses)
            running.add_metric([figures.name], 1.0 if figures.running else 0.0)
            lines.add_metric([figures.name], figures.lines)
            level.add_metric([figures.name], figures.dial_level)
            if figures.risk is not None:
                risk.add_metric([figures.name], figures.risk)
            if figures.abandon_budget is not None:
                budget.add_metric([figures.name], figures.abandon_budget)
        ari.add_metric([], 1.0 if self._ari_connected() else 0.0)
        if self._ami_logged_in is not None:
            ami.add_metric([], 1.0 if self._ami_logged_in() else 0.0)
        yield from families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        by_campaign = ["campaign"]
        return [
            GaugeMetricFamily("pbx_engine_agents", "Agents by state", labels=["state"]),
            GaugeMetricFamily(
                "pbx_engine_campaign_running", "1 while the campaign dials", labels=by_campaign
            ),
            GaugeMetricFamily(
                "pbx_engine_campaign_lines", "The campaign's calls in flight", labels=by_campaign
            ),
            GaugeMetricFamily(
                "pbx_engine_campaign_dial_level",
                "Calls in flight per agent ready, reserved or on a call",
                labels=by_campaign,
            ),
            GaugeMetricFamily(
                "pbx_engine_pacing_risk",
                "Predictive pacing's learned abandon risk per call placed",
                labels=by_campaign,
            ),
            GaugeMetricFamily(
                "pbx_engine_pacing_abandon_budget",
                "Abandons still within the target over the live answers so far (negative: over)",
                labels=by_campaign,
            ),
            GaugeMetricFamily("pbx_engine_ari_connected", "1 while the ARI events websocket is up"),
            GaugeMetricFamily("pbx_engine_ami_connected", "1 while logged in to AMI (if used)"),
        ]


class NodesCollector:
    """Each Asterisk node the engine drives: heard or not, and its channels as the engine knows
    them (what placement goes by)."""

    def __init__(self, rooms: Callable[[], list[NodeRoom]]) -> None:
        self._rooms = rooms

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        up, channels = families
        for room in self._rooms():
            up.add_metric([room.name], 1.0 if room.up else 0.0)
            channels.add_metric([room.name], room.channels)
        yield from families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "pbx_engine_asterisk_node_up",
                "1 while the node's events are heard",
                labels=["node"],
            ),
            GaugeMetricFamily(
                "pbx_engine_asterisk_node_channels",
                "The node's channels in use, as the engine knows them",
                labels=["node"],
            ),
        ]


class PoolCollector:
    """The database pool's connections at the scrape."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        size, in_use, most = families
        pool = self._pool
        size.add_metric([], pool.get_size())
        in_use.add_metric([], pool.get_size() - pool.get_idle_size())
        most.add_metric([], pool.get_max_size())
        yield from families

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily("pbx_engine_db_pool_connections", "Connections open in the pool"),
            GaugeMetricFamily(
                "pbx_engine_db_pool_connections_in_use", "Connections lent out by the pool"
            ),
            GaugeMetricFamily(
                "pbx_engine_db_pool_max_connections", "The most connections the pool may open"
            ),
        ]


def watch_engine(
    metrics: EngineMetrics,
    *,
    agents: Callable[[], list[AgentStatus]],
    campaigns: Callable[[], Iterable[CampaignRunner]],
    ari_connected: Callable[[], bool],
    ami_logged_in: Callable[[], bool] | None,
    pool: asyncpg.Pool,
    nodes: Callable[[], list[NodeRoom]] | None = None,
) -> None:
    """Read the engine's agents, campaigns, PBX links and pool at every scrape."""
    metrics.watch(FloorCollector(agents, campaigns, ari_connected, ami_logged_in))
    metrics.watch(PoolCollector(pool))
    if nodes is not None:
        metrics.watch(NodesCollector(nodes))
