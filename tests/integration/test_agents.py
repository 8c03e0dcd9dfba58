"""Agents on real softphones: the shift-long leg in the agent's bridge, debtors put through to
it the moment AMD says HUMAN, the abandon guard when nobody is free."""

import asyncio

import pytest

from pbx_engine.agents.states import AgentState, AgentStatus
from pbx_engine.dialer.outcomes import Outcome
from pbx_engine.dialer.service import CallRequest
from pbx_engine.engine import Engine
from pbx_engine.sandbox.asterisk import PstnBehaviour, Telephony
from pbx_engine.sandbox.sipp import SippPhone
from tests.integration.waiting import eventually
from tests.plugins.asterisk import AGENTS


async def test_given_an_agent_logs_in_when_his_phone_answers_then_he_is_ready_in_his_bridge(
    connected_engine: Engine,
    ready_agent: AgentStatus,
):
    assert ready_agent.state is AgentState.READY
    bridge = await connected_engine.ari.get_bridge(ready_agent.bridge_id)
    assert bridge is not None
    assert bridge.channels == (ready_agent.channel_id,)
    agent_id = connected_engine.agents.agent_id("anna")
    states = await connected_engine.storage.agent_states(agent_id)
    assert [s for s, _ in states][-2:] == ["connecting", "ready"]


async def test_given_a_reserved_agent_when_a_person_answers_then_he_is_bridged_to_the_agent(
    connected_engine: Engine,
    ready_agent: AgentStatus,
):
    engine = connected_engine
    agent = await engine.agents.reserve()
    assert agent is ready_agent and agent.state is AgentState.RESERVED
    call = engine.dialer.place_call(CallRequest(number=PstnBehaviour.TALK.number(), agent="anna"))

    async def bridged():
        attempt = await engine.storage.get_attempt(call.get_name())
        return attempt if attempt and attempt.bridged_at else None

    attempt = await eventually(bridged, timeout=15, what="the debtor to reach the agent")
    assert ready_agent.state is AgentState.ON_CALL
    bridge = await engine.ari.get_bridge(ready_agent.bridge_id)
    assert set(bridge.channels) == {ready_agent.channel_id, call.get_name()}
    assert attempt.agent_id == engine.agents.agent_id("anna")
    dead_air = (attempt.bridged_at - attempt.amd_decided_at).total_seconds()
    assert 0 <= dead_air < 0.5

    # The agent ends the call: wrap-up, then ready again after the wrap-up time.
    await engine.ari.hangup(call.get_name())
    result = await asyncio.wait_for(call, timeout=10)
    assert result.outcome is Outcome.HUMAN
    await eventually(
        lambda: _true(ready_agent.state is AgentState.READY),
        timeout=5,
        what="the agent to be ready after wrap-up",
    )

    # The change is in memory first and in the database a moment later.
    async def stored_states():
        states = await engine.storage.agent_states(engine.agents.agent_id("anna"))
        return [s for s, _ in states][-4:] == ["reserved", "on_call", "wrap_up", "ready"]

    await eventually(stored_states, timeout=5, what="the state changes on record")


async def test_given_a_ready_agent_when_a_person_answers_unreserved_then_the_agent_takes_him(
    connected_engine: Engine,
    ready_agent: AgentStatus,
):
    call = connected_engine.dialer.place_call(CallRequest(number=PstnBehaviour.TALK.number()))

    await eventually(
        lambda: _true(ready_agent.state is AgentState.ON_CALL),
        timeout=15,
        what="the agent to take the call",
    )
    await connected_engine.ari.hangup(call.get_name())
    assert (await asyncio.wait_for(call, timeout=10)).outcome is Outcome.HUMAN


async def test_given_the_only_agent_is_paused_when_a_person_answers_then_the_call_is_abandoned(
    connected_engine: Engine,
    ready_agent: AgentStatus,
):
    await connected_engine.agents.pause("anna", "coffee")
    result = await connected_engine.dialer.call(CallRequest(number=PstnBehaviour.HUMAN.number()))

    assert result.outcome is Outcome.ABANDONED
    attempt = await connected_engine.storage.get_attempt(result.channel_id)
    assert attempt.abandoned and attempt.bridged_at is None
    # The guard waited its 2 s for an agent, then played the message.
    assert (attempt.ended_at - attempt.amd_decided_at).total_seconds() >= 2
    assert ready_agent.state is AgentState.PAUSED


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [(PstnBehaviour.MACHINE, Outcome.MACHINE), (PstnBehaviour.BUSY, Outcome.BUSY)],
)
async def test_given_a_reserved_agent_when_no_person_is_reached_then_he_is_released(
    connected_engine: Engine,
    ready_agent: AgentStatus,
    behaviour,
    outcome,
):
    await connected_engine.agents.reserve()
    result = await connected_engine.dialer.call(
        CallRequest(number=behaviour.number(), agent="anna")
    )
    assert result.outcome is outcome
    assert ready_agent.state is AgentState.READY


async def _true(value: bool) -> bool:
    return value


async def test_given_an_agent_dials_the_login_code_then_his_own_call_is_his_shift_leg(
    connected_engine: Engine, telephony: Telephony
):
    engine = connected_engine
    pbx = telephony.engine
    await engine.storage.upsert_agent("bogdan", "Bogdan Ilić", sip_endpoint="agent-002")
    async with SippPhone("agent-002", AGENTS["agent-002"], pbx.sip_host, pbx.sip_port) as phone:
        call = await phone.dial("*60")  # stays up until the PBX hangs up

        async def ready():
            status = engine.agents.status("bogdan")
            return status if status and status.state is AgentState.READY else None

        agent = await eventually(ready, timeout=15, what="bogdan to be ready by feature code")
        bridge = await engine.ari.get_bridge(agent.bridge_id)
        assert bridge.channels == (agent.channel_id,)

        # A debtor who answers is put through to him, as after an API login.
        result = engine.dialer.place_call(CallRequest(number=PstnBehaviour.TALK.number()))

        async def on_call():
            return agent.state is AgentState.ON_CALL or None

        await eventually(on_call, timeout=20, what="the debtor to be put through")
        await engine.ari.hangup(result.get_name())
        await result

        await engine.agents.logout("bogdan")
        assert await asyncio.wait_for(call.wait(), 10) == 0  # his phone got the BYE
    states = await engine.storage.agent_states(engine.agents.agent_id("bogdan"))
    assert ("connecting", "feature code") in states
    assert [s for s, _ in states][-1] == "logged_out"


async def test_given_a_phone_of_nobody_dials_the_login_code_then_it_is_refused(
    connected_engine: Engine, telephony: Telephony
):
    engine = connected_engine
    pbx = telephony.engine
    await engine.storage.pool.execute(
        "UPDATE agents SET sip_endpoint = NULL WHERE sip_endpoint = 'agent-002'"
    )
    async with SippPhone("agent-002", AGENTS["agent-002"], pbx.sip_host, pbx.sip_port) as phone:
        call = await phone.dial("*60")
        assert await asyncio.wait_for(call.wait(), 15) == 0  # an error tone, then hung up
    assert not [
        a for a in engine.agents.all() if a.state is AgentState.READY and a.login == "bogdan"
    ]
