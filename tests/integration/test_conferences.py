"""Conferences on the real PBX: third parties joined to an agent's live call and let go, the
call going on whoever leaves; a colleague lent to the call and taken back. The parties are
PSTN tone phones (+1 202 557 FFFF) that record what they hear."""

import asyncio
import time

import aiohttp
import pytest

from pbx_engine.agents.states import AgentState
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.dialer.service import CallRequest, PlacedCall
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnSandbox
from pbx_engine.lab.sandbox.audio import tone_levels
from tests.waiting import eventually, now

DEBTOR, AGENT, CREDITOR, COLLEAGUE = "+12025570600", "+12025571000", "+12025571400", "+12025572000"


@pytest.fixture
async def tina_on_a_call(connected_engine: Engine):
    """Agent tina (a tone phone) logged in and talking to a debtor (another one)."""
    engine = connected_engine
    await engine.storage.agents.upsert_agent("tina", "Tina", sip_endpoint=f"{AGENT}@pstn")
    await engine.agents.login("tina")
    await engine.agents.reserve({"tina"})
    call = engine.dialer.place_call(CallRequest(number=DEBTOR, agent="tina"))
    await eventually(
        now(lambda: engine.agents.status("tina").state is AgentState.ON_CALL),
        timeout=15,
        what="the debtor to reach tina",
    )
    yield call
    await engine.ari.hangup(call.channel_id)
    await asyncio.wait_for(call.task, timeout=10)
    await engine.agents.logout("tina")


async def members(engine: Engine) -> set[str]:
    bridge = await engine.ari.get_bridge(engine.agents.status("tina").bridge_id)
    return set(bridge.channels) if bridge else set()


async def test_given_a_live_call_when_the_agent_adds_and_drops_parties_then_the_call_goes_on(
    connected_engine: Engine, tina_on_a_call: PlacedCall, api: str, pstn_asterisk: PstnSandbox
):
    engine, debtor = connected_engine, tina_on_a_call.channel_id
    tina = engine.agents.status("tina")
    began = time.time() - 1
    token = await engine.storage.issue_agent_token("tina")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        parties = f"{api}/agents/me/call/parties"
        async with http.post(parties, json={"number": CREDITOR}) as response:
            assert response.status == 201, await response.text()
            party = await response.json()
        assert await members(engine) == {tina.channel_id, debtor, party["id"]}
        await asyncio.sleep(2)  # the three talk: the creditor's recording must hear them

        # The creditor hangs up: the debtor and the agent talk on.
        await engine.ari.hangup(party["id"])
        await eventually(
            now(lambda: not engine.parties.has_parties("tina")), what="the party to leave"
        )
        assert await members(engine) == {tina.channel_id, debtor}
        assert tina.state is AgentState.ON_CALL and not tina_on_a_call.task.done()
        heard = max(pstn_asterisk.recordings_dir.glob(f"heard-{CREDITOR}-*.wav"))
        assert heard.stat().st_mtime >= began
        for tone in (600, 1000):  # the creditor heard the debtor and the agent
            assert sum(level > 800 for level in tone_levels(heard, tone)[-15:]) > 10

        # The agent adds him again and lets him go.
        async with http.post(parties, json={"number": CREDITOR}) as response:
            party = await response.json()
        async with http.get(parties) as response:
            assert [p["id"] for p in await response.json()] == [party["id"]]
        async with http.delete(f"{parties}/{party['id']}") as response:
            assert response.status == 200

        async def hung_up():
            return await engine.ari.get_channel(party["id"]) is None

        await eventually(hung_up, what="the dropped party's call to end")
        assert await members(engine) == {tina.channel_id, debtor}
        async with http.post(parties, json={"number": "12345"}) as response:
            assert response.status == 422  # not a phone number

        # Added a third time, then the debtor leaves first: the agent stays on with the party,
        # and wraps up when the party leaves too.
        async with http.post(parties, json={"number": CREDITOR}) as response:
            party = await response.json()
    await engine.ari.hangup(debtor)
    await asyncio.wait_for(tina_on_a_call.task, timeout=10)
    # Nothing to poll for: tina must stay on the call; a wrong wrap-up would show by then.
    await asyncio.sleep(0.5)
    assert tina.state is AgentState.ON_CALL
    assert await members(engine) == {tina.channel_id, party["id"]}
    await engine.ari.hangup(party["id"])
    await eventually(
        now(lambda: tina.state in (AgentState.WRAP_UP, AgentState.READY)),
        what="tina to wrap up once the last party left",
    )


async def test_given_a_live_call_when_the_agent_adds_a_ready_colleague_then_he_joins_and_goes_back(
    connected_engine: Engine, tina_on_a_call: PlacedCall
):
    engine, debtor = connected_engine, tina_on_a_call.channel_id
    await engine.storage.agents.upsert_agent("piotr", "Piotr", sip_endpoint=f"{COLLEAGUE}@pstn")
    piotr = await engine.agents.login("piotr")
    try:
        own_bridge, leg = piotr.bridge_id, piotr.channel_id
        party = await engine.parties.add_agent("tina", "piotr")
        assert party.id == leg and piotr.state is AgentState.ON_CALL
        assert piotr.call_id == debtor
        tina = engine.agents.status("tina")
        assert await members(engine) == {tina.channel_id, debtor, leg}
        assert (await engine.ari.get_bridge(own_bridge)).channels == ()

        await engine.parties.drop("tina")
        assert (await engine.ari.get_bridge(own_bridge)).channels == (leg,)
        assert await members(engine) == {tina.channel_id, debtor}
        await eventually(
            now(lambda: piotr.state is AgentState.READY), what="piotr ready after wrap-up"
        )
    finally:
        await engine.agents.logout("piotr")


async def test_given_a_live_call_when_the_agent_keys_feature_codes_then_a_party_comes_and_goes(
    connected_engine: Engine, tina_on_a_call: PlacedCall, pstn_asterisk: PstnSandbox
):
    engine = connected_engine
    await pstn_asterisk.press_keys(AGENT, f"*1{CREDITOR[1:]}#")
    await eventually(
        now(lambda: engine.parties.has_parties("tina")),
        timeout=15,
        what="the party keyed in to join",
    )
    [party] = engine.parties.parties_of("tina")
    assert (party.kind, party.target) == ("number", CREDITOR)
    await pstn_asterisk.press_keys(AGENT, "*0#")
    await eventually(
        now(lambda: not engine.parties.has_parties("tina")),
        timeout=10,
        what="*0# to drop the party",
    )
    assert not tina_on_a_call.task.done()


async def test_given_a_campaigns_call_when_a_party_is_dialled_then_he_sees_the_campaigns_number(
    connected_engine: Engine, pstn_asterisk: PstnSandbox
):
    engine = connected_engine
    runner = await engine.add_campaign(
        CampaignConfig(name="party-caller-id", caller_id="+12025550777")
    )
    await engine.storage.agents.upsert_agent("tina", "Tina", sip_endpoint=f"{AGENT}@pstn")
    await engine.agents.login("tina")
    try:
        await engine.agents.reserve({"tina"})
        call = engine.dialer.place_call(
            CallRequest(number=DEBTOR, agent="tina", campaign_id=runner.campaign_id)
        )
        await eventually(
            now(lambda: engine.agents.status("tina").state is AgentState.ON_CALL),
            timeout=15,
            what="the debtor to reach tina",
        )
        party = await engine.parties.add_number("tina", CREDITOR)
        callers = [c["caller"]["number"] for c in await pstn_asterisk.channels()]
        assert "+12025550777" in callers
        await engine.parties.drop("tina", party.id)
        await engine.ari.hangup(call.channel_id)
        await asyncio.wait_for(call.task, timeout=10)
    finally:
        await engine.agents.logout("tina")
