"""The keypad survey after a conversation, on the real PBX: the agent ends the call from his
desk, he goes into wrap-up at once, and the debtor (a PSTN tone phone, +1 202 557 FFFF, that
presses keys when asked) hears the questions and answers them; the answers are kept for the
agent. Without a survey the agent's "end call" simply hangs the debtor up."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
import pytest

from ari_apps.outcomes import Outcome
from ari_apps.survey_call import CallSurvey, Question
from pbx_engine.agents.states import AgentState
from pbx_engine.dialer.service import CallRequest
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnSandbox
from tests.waiting import eventually, now

pytestmark = pytest.mark.integration

DEBTOR, AGENT = "+12025570900", "+12025571900"


def two_questions() -> CallSurvey:
    return CallSurvey(
        (Question("satisfied", "sound:beep"), Question("resolved", "sound:beep", keys="12")),
        thanks=("sound:auth-thankyou",),
    )


async def test_given_a_survey_when_the_agent_ends_the_call_then_the_debtor_answers_it_and_the_agent_wraps_up(  # noqa: E501
    connected_engine: Engine, api: str, pstn_asterisk: PstnSandbox
):
    engine = connected_engine
    case_id, agent_id = await _vera_and_a_case(engine, "SURVEY-1")
    vera = await engine.agents.login("vera")
    token = {"Authorization": f"Bearer {await engine.storage.issue_agent_token('vera')}"}
    try:
        async with aiohttp.ClientSession(headers=token) as http:
            end = f"{api}/agents/me/call/end"
            async with http.post(end) as response:
                assert response.status == 409  # no call to end yet
            await engine.agents.reserve({"vera"})
            request = CallRequest(DEBTOR, agent="vera", case_id=case_id, survey=two_questions)
            call = engine.dialer.place_call(request)
            await eventually(
                now(lambda: vera.state is AgentState.ON_CALL), timeout=15, what="the debtor"
            )
            debtor = call.channel_id
            async with http.post(end) as response:
                assert response.status == 200, await response.text()
                assert await response.json() == {"ended": True, "survey": True}
            # The agent is free of the call at once; the debtor is out of his bridge.
            assert vera.state is AgentState.WRAP_UP
            assert (await engine.ari.get_bridge(vera.bridge_id)).channels == (vera.channel_id,)
            await pstn_asterisk.press_keys(DEBTOR, "42")
            result = await asyncio.wait_for(call.task, timeout=30)
    finally:
        await engine.agents.logout("vera")

    # The engine hangs up after the thanks: the call, a conversation, ends as one.
    assert result.outcome is Outcome.HUMAN
    rows = await engine.storage.pool.fetch(
        "SELECT s.template, s.score, s.agent_id, s.case_id FROM survey_answers s "
        "JOIN call_attempts a ON a.id = s.attempt_id WHERE a.channel_id = $1 ORDER BY s.id",
        debtor,
    )
    assert [(r["template"], r["score"], r["agent_id"], r["case_id"]) for r in rows] == [
        ("call:satisfied", 4, agent_id, case_id),
        ("call:resolved", 2, agent_id, case_id),
    ]
    results = await engine.storage.messages.survey_results(datetime.now(UTC) - timedelta(days=1))
    mine = {(r.survey, r.agent): (r.answers, r.average) for r in results}
    assert mine[("call:satisfied", "vera")] == (1, 4.0)
    assert mine[("call:resolved", "vera")] == (1, 2.0)


async def test_given_no_survey_when_the_agent_ends_the_call_then_the_debtor_is_hung_up_on(
    connected_engine: Engine, api: str
):
    engine = connected_engine
    case_id, _ = await _vera_and_a_case(engine, "SURVEY-2")
    vera = await engine.agents.login("vera")
    token = {"Authorization": f"Bearer {await engine.storage.issue_agent_token('vera')}"}
    try:
        await engine.agents.reserve({"vera"})
        call = engine.dialer.place_call(CallRequest(DEBTOR, agent="vera", case_id=case_id))
        await eventually(
            now(lambda: vera.state is AgentState.ON_CALL), timeout=15, what="the debtor"
        )
        async with aiohttp.ClientSession(headers=token) as http:
            async with http.post(f"{api}/agents/me/call/end") as response:
                assert response.status == 200, await response.text()
                assert await response.json() == {"ended": True, "survey": False}
        result = await asyncio.wait_for(call.task, timeout=10)
        await eventually(now(lambda: vera.state is AgentState.WRAP_UP), timeout=5, what="wrap-up")
    finally:
        await engine.agents.logout("vera")
    assert result.outcome is Outcome.HUMAN


async def _vera_and_a_case(engine: Engine, reference: str) -> tuple[int, int]:
    agent_id = await engine.storage.agents.upsert_agent(
        "vera", "Vera", sip_endpoint=f"{AGENT}@pstn"
    )
    case_id, _ = await engine.storage.cases.upsert_case(
        creditor="Acme",
        reference=reference,
        debtor_name="Jan Kowalski",
        amount_owed=Decimal("99.00"),
        currency="USD",
        numbers=[(DEBTOR, "mobile")],
    )
    return case_id, agent_id
