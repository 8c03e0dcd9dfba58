"""Handing a debtor over to the case's owner on the real PBX: the call moves into the owner's
bridge, he hears the debtor, the first agent wraps up, and both may record what was said. The
agents and the debtor are PSTN tone phones (+1 202 557 FFFF) that record what they hear."""

import asyncio
import wave
from decimal import Decimal

import aiohttp

from pbx_engine.agents.states import AgentState
from pbx_engine.dialer.service import CallRequest
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnSandbox
from pbx_engine.lab.sandbox.audio import tone_levels
from tests.waiting import eventually, now

DEBTOR, AGENT, OWNER = "+12025570600", "+12025571000", "+12025571700"


async def test_given_a_live_call_when_the_agent_transfers_it_to_the_owner_then_he_has_the_debtor(
    connected_engine: Engine, api: str, pstn_asterisk: PstnSandbox
):
    engine = connected_engine
    case_id, owner_id = await _case_owned_by_oskar(engine, "HAND-1")
    tina = await engine.agents.login("tina")
    oskar = await engine.agents.login("oskar")
    tokens = {
        login: {"Authorization": f"Bearer {await engine.storage.issue_agent_token(login)}"}
        for login in ("tina", "oskar")
    }
    try:
        await engine.agents.pause("oskar", "coffee")
        await engine.agents.reserve({"tina"})
        call = engine.dialer.place_call(CallRequest(number=DEBTOR, agent="tina", case_id=case_id))
        await eventually(
            now(lambda: tina.state is AgentState.ON_CALL), timeout=15, what="the debtor"
        )
        debtor = call.channel_id
        async with aiohttp.ClientSession(headers=tokens["tina"]) as http:
            transfer = f"{api}/agents/me/call/transfer"
            # The owner on a break: refused, and the debtor stays with tina.
            async with http.post(transfer, json={"agent": "oskar"}) as response:
                assert response.status == 409
                assert "not ready" in (await response.json())["error"]
            assert debtor in (await engine.ari.get_bridge(tina.bridge_id)).channels
            assert tina.state is AgentState.ON_CALL

            await engine.agents.ready("oskar")
            async with http.post(transfer, json={"agent": "oskar"}) as response:
                assert response.status == 200, await response.text()
            assert set((await engine.ari.get_bridge(oskar.bridge_id)).channels) == {
                oskar.channel_id,
                debtor,
            }
            assert (await engine.ari.get_bridge(tina.bridge_id)).channels == (tina.channel_id,)
            assert oskar.state is AgentState.ON_CALL and oskar.call_id == debtor
            assert tina.state is AgentState.WRAP_UP
            attempt = await engine.storage.attempts.get_attempt(debtor)
            assert attempt.agent_id == owner_id
            await asyncio.sleep(2)  # the owner and the debtor talk

            # The agent who handed it over may still note what was said.
            note = {"code": "right_party", "note": "Asked for his case manager."}
            async with http.post(f"{api}/calls/{debtor}/disposition", json=note) as response:
                assert response.status == 201, await response.text()
        async with aiohttp.ClientSession(headers=tokens["oskar"]) as http:
            promise = {"code": "promise_to_pay", "promise_amount": "50.00", "note": "Half now."}
            promise["promise_date"] = "2030-01-15"
            async with http.post(f"{api}/calls/{debtor}/disposition", json=promise) as response:
                assert response.status == 201, await response.text()

        await engine.ari.hangup(debtor)
        await asyncio.wait_for(call.task, timeout=10)
        await eventually(
            now(lambda: oskar.state in (AgentState.WRAP_UP, AgentState.READY)),
            what="the owner to wrap up when the debtor leaves",
        )
    finally:
        for login in ("tina", "oskar"):
            await engine.agents.logout(login)

    # The owner's phone heard the debtor's tone once the call was his (alone in his bridge
    # before, he heard nothing; the file is complete once the phone network has closed it).
    async def heard_the_debtor():
        files = sorted(pstn_asterisk.recordings_dir.glob(f"heard-{OWNER}-*.wav"))
        try:
            return bool(files) and sum(level > 800 for level in tone_levels(files[-1], 600)) > 5
        except (wave.Error, EOFError):
            return False  # still being written: its header is not there yet

    await eventually(heard_the_debtor, timeout=15, what="the owner's phone to hear the debtor")
    async with engine.storage.pool.acquire() as conn:
        moved = await conn.fetchrow(
            "SELECT t.from_agent_id, t.to_agent_id FROM call_transfers t "
            "JOIN call_attempts c ON c.id = t.attempt_id WHERE c.channel_id = $1",
            debtor,
        )
        codes = await conn.fetch(
            "SELECT d.code FROM dispositions d JOIN call_attempts c ON c.id = d.attempt_id "
            "WHERE c.channel_id = $1 ORDER BY d.id",
            debtor,
        )
    assert moved["to_agent_id"] == owner_id
    assert [row["code"] for row in codes] == ["right_party", "promise_to_pay"]


async def test_given_a_live_call_when_the_agent_keys_star_three_then_the_owner_has_the_debtor(
    connected_engine: Engine, pstn_asterisk: PstnSandbox
):
    engine = connected_engine
    case_id, _ = await _case_owned_by_oskar(engine, "HAND-2")
    tina = await engine.agents.login("tina")
    oskar = await engine.agents.login("oskar")
    try:
        await engine.agents.reserve({"tina"})
        call = engine.dialer.place_call(CallRequest(number=DEBTOR, agent="tina", case_id=case_id))
        await eventually(
            now(lambda: tina.state is AgentState.ON_CALL), timeout=15, what="the debtor"
        )
        await pstn_asterisk.press_keys(AGENT, "*3#")
        await eventually(
            now(lambda: oskar.state is AgentState.ON_CALL and tina.state is AgentState.WRAP_UP),
            timeout=15,
            what="*3# to hand the call to the case's owner",
        )
        assert oskar.call_id == call.channel_id
        await engine.ari.hangup(call.channel_id)
        await asyncio.wait_for(call.task, timeout=10)
        await eventually(
            now(lambda: oskar.state is not AgentState.ON_CALL), what="the owner to wrap up"
        )
    finally:
        for login in ("tina", "oskar"):
            await engine.agents.logout(login)


async def _case_owned_by_oskar(engine: Engine, reference: str) -> tuple[int, int]:
    """Agent tina, and oskar who owns a case of the debtor's: (case id, oskar's id)."""
    await engine.storage.agents.upsert_agent("tina", "Tina", sip_endpoint=f"{AGENT}@pstn")
    owner_id = await engine.storage.agents.upsert_agent(
        "oskar", "Oskar", sip_endpoint=f"{OWNER}@pstn"
    )
    case_id, _ = await engine.storage.cases.upsert_case(
        creditor="Acme",
        reference=reference,
        debtor_name="Jan Kowalski",
        amount_owed=Decimal("99.00"),
        currency="USD",
        numbers=[(DEBTOR, "mobile")],
        owner_agent_id=owner_id,
    )
    return case_id, owner_id
