"""A reservation belongs to one call: only that call may release the agent or be put through
to him. Progressive mode reserves an agent per call; an agent released at a machine verdict is
reserved again for the next call before the first call's end is handled, and that end must not
free him from his new reservation (he would be reserved twice, and a debtor abandoned)."""

import asyncio
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.agents.service import AgentService
from pbx_engine.agents.states import AgentState, AgentStatus, IllegalAgentTransition

NOW = datetime(2026, 12, 2, 9, 0, 0, tzinfo=UTC)
EVENTS = ["reserve", "release", "connect", "call_ended", "ready", "pause", "phone_lost"]


def _ready(login: str = "anna") -> AgentStatus:
    agent = AgentStatus(login)
    agent.apply("login", NOW)
    agent.apply("phone_answered", NOW)
    return agent


def test_given_a_reserved_agent_held_for_a_call_then_he_is_held_for_that_call_alone():
    agent = _ready()
    agent.apply("reserve", NOW)
    agent.held_for_call = "out-1"
    assert agent.held_for("out-1")
    assert not agent.held_for("out-2")


def test_given_a_reservation_when_it_ends_then_no_call_holds_the_agent_any_more():
    agent = _ready()
    agent.apply("reserve", NOW)
    agent.held_for_call = "out-1"
    agent.apply("release", NOW)
    agent.apply("reserve", NOW)
    assert not agent.held_for("out-1")  # the next reservation is nobody's until it is named


@given(st.lists(st.sampled_from(EVENTS), max_size=30))
def test_whatever_happens_only_a_reserved_agent_is_held_for_a_call(events):
    agent = _ready()
    for number, event in enumerate(events):
        try:
            agent.apply(event, NOW)
        except IllegalAgentTransition:
            continue
        if agent.state is AgentState.RESERVED and agent.held_for_call is None:
            agent.held_for_call = f"out-{number}"
        if agent.state is not AgentState.RESERVED:
            assert agent.held_for_call is None
            assert not agent.held_for(f"out-{number}")


class _Storage:
    """Agent states are written through it; these tests only look at memory."""

    async def record_agent_state(self, *args, **kwargs) -> None:
        pass

    @property
    def agents(self):  # the agents' store: the one write these tests reach
        return self


def _service(*logins: str) -> AgentService:
    service = AgentService(ari=None, storage=_Storage())  # type: ignore[arg-type]
    for number, login in enumerate(logins, start=1):
        service._agents[login] = _ready(login)
        service._ids[login] = number
    return service


def test_given_an_agent_reserved_again_when_the_first_call_ends_then_he_stays_reserved():
    async def scenario() -> AgentStatus:
        agents = _service("anna")
        await agents.reserve()
        agents.hold_for("anna", "out-machine")
        await agents.release("anna", "out-machine")  # a machine: he is free at the verdict
        await agents.reserve()
        agents.hold_for("anna", "out-next")
        await agents.release("anna", "out-machine")  # the machine call's end, a moment later
        return agents.status("anna")

    anna = asyncio.run(scenario())
    assert anna.state is AgentState.RESERVED
    assert anna.held_for("out-next")


def test_given_an_agent_held_for_a_call_when_that_call_ends_unanswered_then_he_is_ready():
    async def scenario() -> AgentStatus:
        agents = _service("anna")
        await agents.reserve()
        agents.hold_for("anna", "out-busy")
        await agents.release("anna", "out-busy")
        return agents.status("anna")

    assert asyncio.run(scenario()).state is AgentState.READY


def test_given_a_reserved_agent_when_released_without_a_call_then_he_is_ready():
    async def scenario() -> AgentStatus:
        agents = _service("anna")
        await agents.reserve()  # a preview offer, skipped
        await agents.release("anna")
        return agents.status("anna")

    assert asyncio.run(scenario()).state is AgentState.READY


def test_given_a_reservation_named_for_a_call_when_another_call_names_him_then_it_stays():
    async def scenario() -> AgentStatus:
        agents = _service("anna")
        await agents.reserve()
        agents.hold_for("anna", "out-1")
        agents.hold_for("anna", "out-2")  # a second call placed for him by mistake
        return agents.status("anna")

    anna = asyncio.run(scenario())
    assert anna.held_for("out-1") and not anna.held_for("out-2")
