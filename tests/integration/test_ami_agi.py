"""AMI (PJSIP endpoint status) and FastAGI (case look-up on an inbound call) on the real PBX."""

from decimal import Decimal

from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import Telephony
from tests.waiting import eventually


async def test_given_the_pbx_when_asking_ami_for_endpoints_then_trunk_and_agents_are_listed(
    connected_engine: Engine,
):
    assert connected_engine.ami is not None
    endpoints = {e.name: e for e in await connected_engine.ami.endpoints()}

    assert {"pstn", "agent-001", "agent-002"} <= set(endpoints)
    assert endpoints["pstn"].reachable
    # No softphone has registered as agent-002: nobody to ring.
    assert not endpoints["agent-002"].reachable
    assert endpoints["agent-002"].device_state == "Unavailable"


async def test_given_a_debtor_calls_back_when_the_call_arrives_then_fastagi_identifies_his_case(
    connected_engine: Engine,
    telephony: Telephony,
):
    storage = connected_engine.storage
    case_id, _ = await storage.cases.upsert_case(
        creditor="Acme",
        reference="CB-7",
        debtor_name="Maria Lopez",
        amount_owed=Decimal("420.50"),
        currency="USD",
        numbers=[("+13125550177", "mobile")],
    )

    await telephony.pstn.originate(
        "PJSIP/+12025551000@engine", context="debtor-speaks", caller_id="+13125550177"
    )

    async def inbound_attempt():
        async with storage.pool.acquire() as conn:
            return await conn.fetchrow(
                "SELECT case_id, dialled, caller_id, ended_at FROM call_attempts "
                "WHERE direction = 'inbound' AND caller_id = $1 AND ended_at IS NOT NULL",
                "+13125550177",
            )

    row = await eventually(inbound_attempt, timeout=20, what="the inbound call to be recorded")
    assert row["case_id"] == case_id
    assert row["dialled"] == "+12025551000"


async def test_given_an_unknown_caller_when_the_call_arrives_then_it_is_recorded_without_a_case(
    connected_engine: Engine,
    telephony: Telephony,
):
    await telephony.pstn.originate(
        "PJSIP/+12025551000@engine", context="debtor-speaks", caller_id="+14155550123"
    )

    async def inbound_attempt():
        return await connected_engine.storage.pool.fetchrow(
            "SELECT case_id FROM call_attempts WHERE caller_id = $1 AND ended_at IS NOT NULL",
            "+14155550123",
        )

    row = await eventually(inbound_attempt, timeout=20, what="the inbound call to be recorded")
    assert row["case_id"] is None
