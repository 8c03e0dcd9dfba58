"""Inbound ACD on the real sandboxes: a debtor calling back reaches the agent who owns his case,
else someone of that agent's team, else waits in the queue and is offered a callback."""

from decimal import Decimal

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from pbx_engine.agents.states import AgentState, AgentStatus
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.engine import Engine
from pbx_engine.lab.prompts import build_prompts
from pbx_engine.lab.sandbox.asterisk import Telephony
from pbx_engine.lab.sandbox.kannel import KannelSandbox
from pbx_engine.lab.sandbox.sipp import SippPhone
from pbx_engine.web.api import build_app
from tests.integration.test_sms import TOKEN as SMS_TOKEN
from tests.integration.test_sms import service as sms_service
from tests.plugins.asterisk import AGENTS
from tests.waiting import eventually, now

DID = "+12025551000"


@pytest.fixture
async def second_agent(connected_engine: Engine, telephony: Telephony):
    """Agent "bogdan" of anna's team, on agent-002's softphone, ready; logged out after."""
    engine, pbx = connected_engine, telephony.engine
    await engine.storage.agents.upsert_agent(
        "bogdan", "Bogdan", sip_endpoint="agent-002", team="north"
    )
    async with SippPhone("agent-002", AGENTS["agent-002"], pbx.sip_host, pbx.sip_port):
        status = await engine.agents.login("bogdan")
        yield status
        if engine.agents.status("bogdan").state is not AgentState.LOGGED_OUT:
            await engine.agents.logout("bogdan")


async def debtor_case(engine: Engine, reference: str, number: str, owner: str) -> int:
    await engine.storage.agents.upsert_agent(owner, owner, sip_endpoint="agent-001", team="north")
    owner_row = await engine.storage.agents.get_agent(owner)
    case_id, _ = await engine.storage.cases.upsert_case(
        creditor="Acme",
        reference=reference,
        debtor_name=reference,
        amount_owed=Decimal("99.00"),
        currency="USD",
        numbers=[(number, "mobile")],
        owner_agent_id=owner_row.id,
    )
    return case_id


async def inbound_attempt(engine: Engine, caller: str):
    async def probe():
        return await engine.storage.pool.fetchrow(
            "SELECT case_id, agent_id, bridged_at, route, queue_seconds, outcome, ended_at "
            "FROM call_attempts WHERE direction = 'inbound' AND caller_id = $1 "
            "ORDER BY id DESC LIMIT 1",
            caller,
        )

    return probe


async def test_given_the_owner_is_ready_then_his_debtor_calling_back_reaches_him(
    connected_engine: Engine, ready_agent: AgentStatus, telephony: Telephony
):
    engine = connected_engine
    caller = "+13125550301"
    case_id = await debtor_case(engine, "IN-1", caller, "anna")
    channel = await telephony.pstn.call_engine(DID, caller, manner="talk")

    async def with_anna():
        return ready_agent.state is AgentState.ON_CALL or None

    await eventually(with_anna, timeout=15, what="the call to reach the case's owner")
    row = await (await inbound_attempt(engine, caller))()
    assert row["case_id"] == case_id and row["bridged_at"] is not None
    # Her screen has the caller's case the moment he is put through to her.
    server = TestServer(build_app(engine), host="127.0.0.1")
    await server.start_server()
    try:
        token = await engine.storage.issue_agent_token("anna")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            async with http.get(server.make_url("/agents/me")) as response:
                call = (await response.json())["call"]
            assert (call["direction"], call["number"]) == ("inbound", caller)
            assert call["case"]["reference"] == "IN-1"
            assert row["agent_id"] == engine.agents.agent_id("anna")
            assert row["route"] == "agent: anna"
            # She ends the call from her desk: the caller is hung up on, she wraps up.
            async with http.post(server.make_url("/agents/me/call/end")) as response:
                assert response.status == 200, await response.text()
                assert await response.json() == {"ended": True, "survey": False}
    finally:
        await server.close()

    async def caller_hung_up_on():
        return all(c["id"] != channel for c in await telephony.pstn.channels())

    await eventually(caller_hung_up_on, timeout=10, what="the caller to be hung up on")
    assert ready_agent.state in (AgentState.WRAP_UP, AgentState.READY)

    async def ended():
        row = await (await inbound_attempt(engine, caller))()
        return row if row["ended_at"] else None

    assert (await eventually(ended, timeout=10, what="the call to end"))["outcome"] == "human"


async def test_given_the_owner_is_busy_then_his_team_takes_the_call(
    connected_engine: Engine,
    ready_agent: AgentStatus,
    second_agent: AgentStatus,
    telephony: Telephony,
):
    engine = connected_engine
    caller = "+13125550302"
    await debtor_case(engine, "IN-2", caller, "anna")
    await engine.agents.pause("anna", "coffee")
    channel = await telephony.pstn.call_engine(DID, caller, manner="talk")

    async def with_bogdan():
        return second_agent.state is AgentState.ON_CALL or None

    await eventually(with_bogdan, timeout=15, what="the call to reach the owner's team")
    row = await (await inbound_attempt(engine, caller))()
    assert row["route"] == "agent: bogdan"
    assert ready_agent.state is AgentState.PAUSED
    await telephony.pstn.hangup(channel)


async def test_given_nobody_is_free_then_the_caller_waits_and_is_offered_a_callback(
    connected_engine: Engine, ready_agent: AgentStatus, telephony: Telephony
):
    engine = connected_engine
    caller = "+13125550303"
    case_id = await debtor_case(engine, "IN-3", caller, "anna")
    await engine.agents.pause("anna", "lunch")
    await telephony.pstn.call_engine(DID, caller, manner="press1")

    async def ended():
        row = await (await inbound_attempt(engine, caller))()
        return row if row and row["ended_at"] else None

    row = await eventually(ended, timeout=30, what="the queue to end in a callback offer")
    assert row["route"] == "callback offer"
    assert row["queue_seconds"] >= 4  # the configured longest wait
    assert row["bridged_at"] is None
    callback = await engine.storage.pool.fetchrow(
        "SELECT case_id, e164, source, status FROM callbacks WHERE e164 = $1", caller
    )
    assert dict(callback) == {
        "case_id": case_id,
        "e164": caller,
        "source": "queue",
        "status": "pending",
    }

    # Later: his case's campaign runs, and the callback is dialled to his agent first.
    runner = await engine.add_campaign(
        CampaignConfig(name="queue-callback", dial_mode="progressive", compliance="plain")
    )
    await engine.storage.pool.execute(
        "UPDATE cases SET campaign_id = $2 WHERE id = $1", case_id, runner.campaign_id
    )
    await engine.agents.ready("anna")
    runner.start()
    try:

        async def dialled():
            return await engine.storage.pool.fetchrow(
                "SELECT channel_id, dialled, agent_id FROM call_attempts "
                "WHERE direction = 'outbound' AND case_id = $1",
                case_id,
            )

        call = await eventually(dialled, timeout=15, what="the callback to be dialled")
        assert call["dialled"] == caller
    finally:
        runner.stop()
    assert ready_agent.state is not AgentState.READY  # held for the callback
    await engine.ari.hangup(call["channel_id"])  # the callback's ringing is not this test's


@pytest.fixture
async def debtor_menu(connected_engine: Engine, telephony: Telephony):
    """The debtor menu on, with its English prompts made into the engine PBX's sounds."""
    folder = telephony.engine.sounds_dir / "menu"
    await build_prompts(folder, ["en"])
    connected_engine.inbound.menu_prompts = folder
    yield folder
    connected_engine.inbound.menu_prompts = None


async def test_given_the_menu_when_the_debtor_asks_for_a_callback_then_it_is_booked(
    connected_engine: Engine, debtor_menu, telephony: Telephony
):
    engine = connected_engine
    caller = "+13125550311"
    case_id = await debtor_case(engine, "IN-M3", caller, "anna")
    await telephony.pstn.call_engine(DID, caller, manner="dtmf", keys="3")

    async def ended():
        row = await (await inbound_attempt(engine, caller))()
        return row if row and row["ended_at"] else None

    row = await eventually(ended, timeout=30, what="the menu to book a callback")
    assert row["route"] == "menu: callback"
    callback = await engine.storage.pool.fetchrow(
        "SELECT source, owner_agent_id FROM callbacks WHERE case_id = $1", case_id
    )
    assert callback["source"] == "ivr"
    assert callback["owner_agent_id"] == (await engine.storage.agents.get_agent("anna")).id


async def test_given_the_menu_when_the_debtor_promises_a_date_then_it_is_recorded(
    connected_engine: Engine, debtor_menu, telephony: Telephony
):
    engine = connected_engine
    caller = "+13125550312"
    case_id = await debtor_case(engine, "IN-M4", caller, "anna")
    channel = await telephony.pstn.call_engine(DID, caller, manner="dtmf", keys="40512")

    async def promised():
        return await engine.storage.pool.fetchrow(
            "SELECT d.promise_date, d.promise_amount, d.agent_id, c.status FROM dispositions d "
            "JOIN cases c ON c.id = d.case_id WHERE d.case_id = $1",
            case_id,
        )

    row = await eventually(promised, timeout=30, what="the promise typed in the menu")
    assert (row["promise_date"].day, row["promise_date"].month) == (5, 12)
    assert row["promise_amount"] == Decimal("99.00") and row["agent_id"] is None
    assert row["status"] == "promised"
    await telephony.pstn.hangup(channel)  # the menu goes on after the promise


async def test_given_the_menu_when_the_debtor_hears_his_balance_then_asks_for_his_agent(
    connected_engine: Engine, debtor_menu, ready_agent: AgentStatus, telephony: Telephony
):
    engine = connected_engine
    caller = "+13125550313"
    await debtor_case(engine, "IN-M1", caller, "anna")
    channel = await telephony.pstn.call_engine(DID, caller, manner="dtmf", keys="12")

    async def with_anna():
        return ready_agent.state is AgentState.ON_CALL or None

    await eventually(with_anna, timeout=30, what="the caller to reach his agent from the menu")
    row = await (await inbound_attempt(engine, caller))()
    assert row["route"] == "agent: anna"
    await telephony.pstn.hangup(channel)


async def test_given_the_menu_when_the_debtor_asks_for_a_pay_link_then_it_goes_to_his_mobile_by_sms(  # noqa: E501
    connected_engine: Engine, debtor_menu, telephony: Telephony, tmp_path
):
    """5 in the menu: the case's payment link by text message, through the real gateway."""
    engine = connected_engine
    caller = "+13125550315"
    await debtor_case(engine, "IN-M5", caller, "anna")
    # A gateway of its own (the shared engine has no [sms]): what the engine wires from
    # [inbound] pay_link_template, with the messages file's "reminder" (it has the pay link).
    async with KannelSandbox("http://127.0.0.1:9/sms/inbound", SMS_TOKEN) as kannel:
        messages = sms_service(engine.storage, kannel, tmp_path, "http://127.0.0.1:9")

        async def text_pay_link(case_id: int) -> bool:
            return (await messages.send(case_id, "reminder", "sms")).status == "sent"

        engine.inbound.pay_link_sender = text_pay_link
        try:
            await telephony.pstn.call_engine(DID, caller, manner="dtmf", keys="5")

            async def ended():
                row = await (await inbound_attempt(engine, caller))()
                return row if row and row["ended_at"] else None

            row = await eventually(ended, timeout=30, what="the menu to send the link")
            sent = await eventually(
                now(lambda: kannel.sent()), timeout=10, what="the network to get the SMS"
            )
        finally:
            engine.inbound.pay_link_sender = None
    assert row["route"] == "menu: pay_link"
    [sms] = sent
    assert sms.to == caller
    assert "is due. Pay: https://pay.acme.example/IN-M5" in sms.text
