"""Putting a debtor through: the call is on record as the agent's before anything (his screen,
`GET /agents/me`, the floor) can see him on it, so a disposition saved at once is accepted."""

import asyncio
from datetime import UTC, datetime, timedelta

from pbx_engine.agents.service import AgentService
from pbx_engine.agents.states import AgentState, AgentStatus
from pbx_engine.ari.node_links import NodeLinks

NOW = datetime(2026, 12, 2, 9, 0, 0, tzinfo=UTC)


class _Ari:
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        self.seen.append(f"bridged {channel_id}")


class _Storage:
    async def record_agent_state(self, *args, **kwargs) -> None:
        pass

    @property
    def agents(self):  # the agents' store: the one write these tests reach
        return self


def _on_call_after_record() -> tuple[list[str], AgentStatus, datetime]:
    seen: list[str] = []

    async def scenario() -> tuple[AgentStatus, datetime]:
        agents = AgentService(ari=_Ari(seen), storage=_Storage())  # type: ignore[arg-type]
        anna = AgentStatus("anna", bridge_id="agent-anna-1")
        anna.apply("login", NOW)
        anna.apply("phone_answered", NOW)
        agents._agents["anna"], agents._ids["anna"] = anna, 1

        def told(status: AgentStatus, before: AgentState) -> None:
            seen.append(f"{status.state.value} {status.call_id}")

        agents.on_state_change(told)

        async def record(at: datetime) -> None:
            await asyncio.sleep(0)  # a write takes a while: nobody may see the call meanwhile
            seen.append(f"recorded while {anna.state.value} {anna.call_id}")

        await agents.reserve()
        seen.clear()
        bridged_at = await agents.connect(anna, "out-1", record=record)
        return anna, bridged_at

    anna, bridged_at = asyncio.run(scenario())
    return seen, anna, bridged_at


def test_given_a_debtor_put_through_then_he_is_bridged_recorded_and_only_then_shown():
    seen, anna, _ = _on_call_after_record()
    assert seen == ["bridged out-1", "recorded while reserved None", "on_call out-1"]
    assert (anna.state, anna.call_id) == (AgentState.ON_CALL, "out-1")


def test_given_a_write_that_fails_when_a_debtor_is_put_through_then_the_agent_is_on_the_call():
    async def scenario() -> AgentStatus:
        agents = AgentService(ari=_Ari([]), storage=_Storage())  # type: ignore[arg-type]
        anna = AgentStatus("anna", bridge_id="agent-anna-1")
        anna.apply("login", NOW)
        anna.apply("phone_answered", NOW)
        agents._agents["anna"], agents._ids["anna"] = anna, 1

        async def record(at: datetime) -> None:
            raise ConnectionError("database away")

        await agents.connect(anna, "out-1", record=record)
        return anna

    anna = asyncio.run(scenario())
    assert (anna.state, anna.call_id) == (AgentState.ON_CALL, "out-1")


class _TwoNodes:
    """Anna's leg is on m1, olga's on m2."""

    def node_of_channel(self, channel_id: str) -> str | None:
        return {"leg-anna": "m1", "leg-olga": "m2"}.get(channel_id)


def _two_node_floor(addresses: dict[str, str]) -> AgentService:
    ari = _TwoNodes()
    links = NodeLinks(ari, addresses, "pw")  # type: ignore[arg-type]
    agents = AgentService(ari=ari, storage=_Storage(), links=links)  # type: ignore[arg-type]
    for index, (login, since) in enumerate([("anna", NOW), ("olga", NOW - timedelta(minutes=5))]):
        status = AgentStatus(login, bridge_id=f"agent-{login}", channel_id=f"leg-{login}")
        status.apply("login", since)
        status.apply("phone_answered", since)
        agents._agents[login], agents._ids[login] = status, index + 1
    return agents


def _first_ready(agents: AgentService, node: str) -> str | None:
    async def scenario() -> str | None:
        agent = await agents.wait_for_ready(0, node=node)
        return agent.login if agent else None

    return asyncio.run(scenario())


def test_given_links_then_a_call_takes_an_agent_of_its_own_node_first_then_one_linked():
    agents = _two_node_floor({"m1": "10.0.0.1:5060", "m2": "10.0.0.2:5060"})
    # Olga has waited longer, but anna is on the call's node: no link needed.
    assert _first_ready(agents, "m1") == "anna"
    # Anna is taken now: olga, through a link.
    assert _first_ready(agents, "m1") == "olga"
    assert _first_ready(agents, "m1") is None


def test_given_no_links_then_a_call_takes_agents_of_its_own_node_only():
    agents = _two_node_floor({})
    assert [a.login for a in agents.on("m1", linked=True)] == ["anna"]
    assert not agents.reaches("olga", "m1") and agents.reaches("olga", "m2")
    assert _first_ready(agents, "m2") == "olga"
    assert _first_ready(agents, "m2") is None
