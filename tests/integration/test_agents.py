"""Agents on real softphones: the shift-long leg in the agent's bridge, debtors put through to
it the moment AMD says HUMAN, the abandon guard when nobody is free."""

import asyncio

import pytest

from ari_apps.outcomes import Outcome
from pbx_engine.agents.service import AgentService
from pbx_engine.agents.states import AgentState, AgentStatus
from pbx_engine.ari import AriClient
from pbx_engine.dialer.service import CallRequest
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour, Telephony
from pbx_engine.lab.sandbox.sipp import SippPhone
from tests.plugins.asterisk import AGENTS
from tests.waiting import eventually, now


async def test_given_an_agent_logs_in_when_his_phone_answers_then_he_is_ready_in_his_bridge(
    connected_engine: Engine,
    ready_agent: AgentStatus,
):
    assert ready_agent.state is AgentState.READY
    bridge = await connected_engine.ari.get_bridge(ready_agent.bridge_id)
    assert bridge is not None
    assert bridge.channels == (ready_agent.channel_id,)
    agent_id = connected_engine.agents.agent_id("anna")
    states = await connected_engine.storage.agents.agent_states(agent_id)
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
        # The debtor is put through first and the verdict written after: both on record.
        attempt = await engine.storage.attempts.get_attempt(call.channel_id)
        return attempt if attempt and attempt.bridged_at and attempt.amd_decided_at else None

    attempt = await eventually(bridged, timeout=15, what="the debtor to reach the agent")
    assert ready_agent.state is AgentState.ON_CALL
    bridge = await engine.ari.get_bridge(ready_agent.bridge_id)
    assert set(bridge.channels) == {ready_agent.channel_id, call.channel_id}
    assert attempt.agent_id == engine.agents.agent_id("anna")
    dead_air = (attempt.bridged_at - attempt.amd_decided_at).total_seconds()
    assert 0 <= dead_air < 0.5

    # The agent ends the call: wrap-up, then ready again after the wrap-up time.
    await engine.ari.hangup(call.channel_id)
    result = await asyncio.wait_for(call.task, timeout=10)
    assert result.outcome is Outcome.HUMAN
    await eventually(
        now(lambda: ready_agent.state is AgentState.READY),
        timeout=5,
        what="the agent to be ready after wrap-up",
    )

    # The change is in memory first and in the database a moment later.
    async def stored_states():
        states = await engine.storage.agents.agent_states(engine.agents.agent_id("anna"))
        return [s for s, _ in states][-4:] == ["reserved", "on_call", "wrap_up", "ready"]

    await eventually(stored_states, timeout=5, what="the state changes on record")


async def test_given_a_ready_agent_when_a_person_answers_unreserved_then_the_agent_takes_him(
    connected_engine: Engine,
    ready_agent: AgentStatus,
):
    call = connected_engine.dialer.place_call(CallRequest(number=PstnBehaviour.TALK.number()))

    await eventually(
        now(lambda: ready_agent.state is AgentState.ON_CALL),
        timeout=15,
        what="the agent to take the call",
    )
    await connected_engine.ari.hangup(call.channel_id)
    assert (await asyncio.wait_for(call.task, timeout=10)).outcome is Outcome.HUMAN


async def test_given_the_only_agent_is_paused_when_a_person_answers_then_the_call_is_abandoned(
    connected_engine: Engine,
    ready_agent: AgentStatus,
):
    await connected_engine.agents.pause("anna", "coffee")
    result = await connected_engine.dialer.call(CallRequest(number=PstnBehaviour.HUMAN.number()))

    assert result.outcome is Outcome.ABANDONED
    attempt = await connected_engine.storage.attempts.get_attempt(result.channel_id)
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


async def test_given_an_agent_dials_the_login_code_then_his_own_call_is_his_shift_leg(
    connected_engine: Engine, telephony: Telephony
):
    engine = connected_engine
    pbx = telephony.engine
    await engine.storage.agents.upsert_agent("bogdan", "Bogdan Ilić", sip_endpoint="agent-002")
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
        await engine.ari.hangup(result.channel_id)
        await result.task

        await engine.agents.logout("bogdan")
        assert await asyncio.wait_for(call.wait(), 10) == 0  # his phone got the BYE
    states = await engine.storage.agents.agent_states(engine.agents.agent_id("bogdan"))
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


@pytest.fixture
async def rung_per_call(connected_engine: Engine, agent_phone: SippPhone):
    """Agent "anna" logged in with per-call ringing (no shift-long call); put back afterwards."""
    agents = connected_engine.agents
    await connected_engine.storage.agents.upsert_agent(
        "anna", "Anna Nowak", sip_endpoint="agent-001"
    )
    agents.ring_per_call = True
    try:
        yield await agents.login("anna")
    finally:
        if agents.status("anna") and agents.status("anna").state is not AgentState.LOGGED_OUT:
            await agents.logout("anna")
        agents.ring_per_call = False


async def test_given_per_call_ringing_then_the_agent_is_rung_for_each_debtor_and_freed_after(
    connected_engine: Engine, rung_per_call: AgentStatus, agent_phone: SippPhone
):
    engine = connected_engine
    agent = rung_per_call
    assert agent.state is AgentState.READY and agent.channel_id is None  # no shift-long call
    answered_before = agent_phone.answered

    for who_hangs_up in ("debtor", "agent"):
        call = engine.dialer.place_call(CallRequest(number=PstnBehaviour.TALK.number()))

        async def bridged(call=call):
            attempt = await engine.storage.attempts.get_attempt(call.channel_id)
            return attempt if attempt and attempt.bridged_at else None

        await eventually(bridged, timeout=20, what="the debtor and the rung agent joined")
        assert agent.state is AgentState.ON_CALL
        bridge = await engine.ari.get_bridge(agent.bridge_id)
        assert set(bridge.channels) == {call.channel_id, agent.channel_id}
        leg, bridge_id = agent.channel_id, agent.bridge_id
        await engine.ari.hangup(call.channel_id if who_hangs_up == "debtor" else leg)
        result = await asyncio.wait_for(call.task, 15)  # either way the debtor's call ends
        assert result.outcome is Outcome.HUMAN

        async def ready_again():
            return agent.state is AgentState.READY or None

        await eventually(ready_again, timeout=10, what="the agent to be ready again")
        assert agent.channel_id is None and agent.bridge_id is None
        assert await engine.ari.get_channel(leg) is None
        assert await engine.ari.get_bridge(bridge_id) is None
    assert agent_phone.answered == answered_before + 2


async def test_given_per_call_ringing_and_an_agent_who_does_not_answer_then_abandoned_and_paused(
    connected_engine: Engine, rung_per_call: AgentStatus, agent_phone: SippPhone
):
    engine = connected_engine
    await agent_phone.stop()  # his phone is gone: the call to it fails at once
    result = await engine.dialer.call(CallRequest(number=PstnBehaviour.HUMAN.number()))
    assert result.outcome is Outcome.ABANDONED
    assert rung_per_call.state is AgentState.PAUSED
    assert rung_per_call.reason == "missed a call"


async def test_given_another_engine_starts_on_the_same_pbx_then_it_leaves_our_agents_alone(
    connected_engine: Engine, ready_agent: AgentStatus
):
    """A second engine on this PBX (with its own ARI app) starting up neither takes anna's
    session for its own nor removes her bridge as stale."""
    engine = connected_engine
    other_app = engine.config.ari.model_copy(update={"app": "another-engine"})
    async with AriClient(other_app, events=False) as other_ari:
        other = AgentService(other_ari, engine.storage, wrap_up_seconds=0.5)
        try:
            assert await other.adopt_sessions() == []
        finally:
            await other.close()
    assert await engine.ari.get_bridge(ready_agent.bridge_id) is not None
    assert ready_agent.state is AgentState.READY


async def test_given_the_engine_restarts_after_a_crash_then_agents_in_their_bridges_are_adopted(
    connected_engine: Engine, ready_agent: AgentStatus
):
    """A new agent service (as a restarted engine builds) finds anna's leg in her bridge and
    takes her back: ready, then on the call in her bridge, wrapping up when it ends."""
    engine = connected_engine
    call = engine.dialer.place_call(CallRequest(number=PstnBehaviour.TALK.number()))

    async def on_call():
        return ready_agent.state is AgentState.ON_CALL or None

    await eventually(on_call, timeout=20, what="a debtor put through to anna")
    restarted = AgentService(engine.ari, engine.storage, wrap_up_seconds=0.5)
    try:
        assert await restarted.adopt_sessions() == ["anna"]
        adopted = restarted.status("anna")
        assert adopted.state is AgentState.ON_CALL and adopted.call_id == call.channel_id
        assert (adopted.channel_id, adopted.bridge_id) == (
            ready_agent.channel_id,
            ready_agent.bridge_id,
        )
        assert await restarted.adopt_sessions() == []  # known now: not adopted twice
        await engine.ari.hangup(call.channel_id)

        async def ready_again():
            return adopted.state is AgentState.READY or None

        await eventually(ready_again, timeout=15, what="the adopted agent to wrap up")
        await restarted.logout("anna")  # the new engine runs her session now

        async def bridge_gone():  # Asterisk lets a destroyed bridge linger for a moment
            return await engine.ari.get_bridge(ready_agent.bridge_id) is None or None

        await eventually(bridge_gone, timeout=5, what="her bridge to be destroyed")
    finally:
        await restarted.close()
    states = await engine.storage.agents.agent_states(engine.agents.agent_id("anna"))
    assert ("on_call", "adopted after a restart") in states
