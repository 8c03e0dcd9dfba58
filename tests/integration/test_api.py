"""The agents' and supervisors' HTTP API on the running engine, over real HTTP, during a real
call: log in, the screen pop with the case, a disposition that schedules a callback."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import aiohttp

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from pbx_engine.lab.sandbox.sipp import SippPhone
from tests.waiting import eventually


async def token_for(engine: Engine, login: str, role: str, endpoint: str | None = None) -> dict:
    await engine.storage.agents.upsert_agent(login, login.title(), sip_endpoint=endpoint, role=role)
    return {"Authorization": f"Bearer {await engine.storage.issue_agent_token(login)}"}


async def test_given_no_or_a_wrong_token_when_calling_the_api_then_401_as_json(api):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{api}/agents/me") as response:
            assert response.status == 401
            assert await response.json() == {"error": "missing bearer token"}
        async with http.get(f"{api}/agents/me", headers={"Authorization": "Bearer x"}) as r:
            assert r.status == 401


async def test_given_an_agent_when_he_asks_for_campaigns_then_403(api, connected_engine):
    headers = await token_for(connected_engine, "piotr", "agent")
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{api}/campaigns") as response:
            assert response.status == 403
        async with http.post(f"{api}/agents/me/ready") as response:
            assert response.status == 409  # not logged in
            assert "not logged in" in (await response.json())["error"]


async def test_given_a_live_call_when_the_agent_works_it_through_the_api_then_all_is_stored(
    api,
    connected_engine: Engine,
    agent_phone: SippPhone,
):
    engine = connected_engine
    agent = await token_for(engine, "anna", "agent", endpoint="agent-001")
    boss = await token_for(engine, "boss", "supervisor")
    runner = await engine.add_campaign(
        CampaignConfig(
            name="api-test", dial_mode="progressive", compliance="plain", agents=["anna"]
        )
    )
    case_id, _ = await engine.storage.cases.upsert_case(
        creditor="Acme",
        reference="API-1",
        debtor_name="Maria Lopez",
        amount_owed=Decimal("420.50"),
        currency="USD",
        numbers=[(PstnBehaviour.TALK.number("+120255504"), "mobile")],
        campaign_id=runner.campaign_id,
        timezone="America/Chicago",
    )
    async with aiohttp.ClientSession(headers=agent) as http:
        async with http.post(f"{api}/agents/me/login") as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["state"] == "ready"
        async with http.post(f"{api}/campaigns/api-test/start", headers=boss) as response:
            assert (await response.json())["state"] == "running"

        async def screen_pop():
            async with http.get(f"{api}/agents/me") as response:
                body = await response.json()
                return body if body["call"] else None

        me = await eventually(screen_pop, timeout=20, what="the call on the agent's screen")
        assert me["state"] == "on_call"
        case = me["call"]["case"]
        assert (case["reference"], case["debtor_name"], case["amount_owed"]) == (
            "API-1",
            "Maria Lopez",
            "420.50",
        )
        channel_id = me["call"]["channel_id"]

        bad = {"code": "promise_to_pay", "promise_amount": "10.00"}
        async with http.post(f"{api}/calls/{channel_id}/disposition", json=bad) as response:
            assert response.status == 422
            assert "a date" in (await response.json())["error"]
        callback_at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
        body = {"code": "callback", "callback_at": callback_at.isoformat(), "note": "Friday"}
        async with http.post(f"{api}/calls/{channel_id}/disposition", json=body) as response:
            assert response.status == 201, await response.text()

        async with http.post(f"{api}/campaigns/api-test/stop", headers=boss) as response:
            assert (await response.json())["state"] == "stopped"
        async with http.get(f"{api}/campaigns", headers=boss) as response:
            [listed] = [c for c in await response.json() if c["name"] == "api-test"]
        # The supervisor sees the campaign's dead air: this call waited for AMD, then a few ms.
        day = listed["last_24h"]
        assert day["contacts"] == 1
        assert 0 <= day["verdict_to_bridge_p99_ms"] < 1000
        assert day["answer_to_bridge_p50_ms"] > day["verdict_to_bridge_p50_ms"]
        await engine.ari.hangup(channel_id)
        await eventually(screen_pop_gone(http, api), timeout=10, what="the call to end")
        async with http.post(f"{api}/agents/me/logout") as response:
            assert (await response.json())["state"] == "logged_out"

    row = await engine.storage.pool.fetchrow(
        "SELECT status, next_call_at FROM cases WHERE id = $1", case_id
    )
    assert row["next_call_at"] == callback_at
    callback = await engine.storage.pool.fetchrow(
        "SELECT due_at, source, owner_agent_id, status FROM callbacks WHERE case_id = $1", case_id
    )
    assert (callback["due_at"], callback["source"], callback["status"]) == (
        callback_at,
        "agent",
        "pending",
    )
    assert callback["owner_agent_id"] == engine.agents.agent_id("anna")
    dossier = await engine.storage.cases.case_dossier(case_id)
    assert dossier.history[0].disposition == "callback"


def screen_pop_gone(http, api):
    async def probe():
        async with http.get(f"{api}/agents/me") as response:
            return (await response.json())["call"] is None

    return probe


async def test_given_a_preview_campaign_when_the_agent_skips_one_and_dials_the_next_then_he_gets_it(
    api,
    connected_engine: Engine,
    agent_phone: SippPhone,
):
    engine = connected_engine
    agent = await token_for(engine, "anna", "agent", endpoint="agent-001")
    runner = await engine.add_campaign(
        CampaignConfig(
            name="preview-test", dial_mode="preview", compliance="plain", agents=["anna"]
        )
    )
    for i, due in enumerate(["2026-01-01", "2026-02-01"]):
        await engine.storage.cases.upsert_case(
            creditor="Acme",
            reference=f"PV-{i}",
            debtor_name=f"Preview {i}",
            amount_owed=Decimal("99.00"),
            currency="USD",
            numbers=[(PstnBehaviour.TALK.number(f"+12025550{8 + i}"), "mobile")],
            campaign_id=runner.campaign_id,
            due_date=date.fromisoformat(due),
        )
    runner.start()
    try:
        async with aiohttp.ClientSession(headers=agent) as http:
            async with http.post(f"{api}/agents/me/preview") as response:
                assert response.status == 409  # not logged in, so not ready
            async with http.post(f"{api}/agents/me/login") as response:
                assert response.status == 200
            async with http.post(f"{api}/agents/me/preview") as response:
                first = await response.json()
            assert first["case"]["reference"] == "PV-0"  # oldest debt first
            assert engine.agents.status("anna").state.value == "reserved"
            async with http.post(f"{api}/agents/me/preview/skip") as response:
                assert (await response.json())["state"] == "ready"
            async with http.post(f"{api}/agents/me/preview") as response:
                second = await response.json()
            assert second["case"]["reference"] == "PV-1"
            assert runner.placed == 0  # preview dials nothing by itself
            async with http.post(f"{api}/agents/me/preview/dial") as response:
                assert response.status == 202
                channel_id = (await response.json())["channel_id"]

            async def on_call():
                async with http.get(f"{api}/agents/me") as response:
                    return (await response.json())["state"] == "on_call"

            await eventually(on_call, timeout=20, what="the previewed debtor on the line")
            await engine.ari.hangup(channel_id)
            await eventually(screen_pop_gone(http, api), timeout=10, what="the call to end")
            async with http.post(f"{api}/agents/me/logout") as response:
                assert response.status == 200
    finally:
        runner.stop()
    # The skip is on record, so no restart brings the case back before tomorrow.
    skipped = await engine.storage.pool.fetchrow(
        "SELECT skipped_until, skipped_by FROM cases WHERE reference = 'PV-0'"
    )
    assert skipped["skipped_by"] == engine.agents.agent_id("anna")
    assert skipped["skipped_until"] > datetime.now(UTC) + timedelta(hours=23)
