"""What one test leaves up in the shared engine and Asterisks is found and cleared before the
next (tests/plugins/leftovers.py does it before every test; here it is asked in the middle)."""

import asyncio

from pbx_engine.agents.states import AgentState
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.dialer.service import CallRequest
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour, Telephony
from pbx_engine.lab.sandbox.leftovers import leftovers
from pbx_engine.lab.sandbox.sipp import SippPhone
from tests.plugins.leftovers import bring_to_rest, look
from tests.waiting import eventually


async def test_given_an_agent_a_campaign_and_a_ringing_call_left_up_then_all_are_cleared(
    connected_engine: Engine, agent_phone: SippPhone, telephony: Telephony
):
    engine = connected_engine
    await engine.storage.agents.upsert_agent("anna", "Anna Nowak", sip_endpoint="agent-001")
    await engine.agents.login("anna")

    async def anna_ready() -> bool:
        return engine.agents.status("anna").state is AgentState.READY

    await eventually(anna_ready, what="anna to be ready")
    runner = await engine.add_campaign(
        CampaignConfig(name="left-running", dial_mode="progressive", compliance="plain")
    )
    runner.start()
    call = engine.dialer.place_call(CallRequest(number=PstnBehaviour.NO_ANSWER.number()))
    await eventually(telephony.pstn.channels, what="the PSTN to ring")

    found = leftovers(await look(engine, telephony))
    assert {"agent anna ready", "campaign left-running running"} <= set(found.lines())
    assert found.channels["engine"] and found.channels["pstn"] and found.bridges["engine"]

    await bring_to_rest(engine, telephony, found)
    assert not leftovers(await look(engine, telephony))
    assert runner.state.value == "stopped"
    await asyncio.wait_for(call.task, timeout=10)  # the dialer saw its call end
