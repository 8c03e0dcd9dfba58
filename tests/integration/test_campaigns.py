"""A progressive campaign on the real sandboxes: it dials due cases for its ready agent, puts
the person who answers through, retries a busy line by its rule, and leaves alone a debtor for
whom it is night."""

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from pbx_engine.agents.states import AgentStatus
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.dialer.campaign import CampaignState
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from tests.waiting import eventually


def zone_at_local_hour(hour: int) -> str:
    """An Etc/GMT zone where it is now about `hour` o'clock (Etc/GMT-N is UTC+N)."""
    offset = (hour - datetime.now(UTC).hour + 12) % 24 - 12
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


async def attempts_of(engine: Engine, case_id: int) -> list:
    rows = await engine.storage.pool.fetch(
        "SELECT outcome, bridged_at, ended_at, amd_status, channel_id FROM call_attempts "
        "WHERE case_id = $1 ORDER BY id",
        case_id,
    )
    return list(rows)


async def test_given_a_progressive_campaign_when_started_then_it_works_its_cases_by_the_rules(
    connected_engine: Engine,
    ready_agent: AgentStatus,
):
    engine = connected_engine
    midday, night = zone_at_local_hour(12), zone_at_local_hour(3)
    campaign = CampaignConfig(
        name="progressive-test",
        dial_mode="progressive",
        compliance="us",
        agents=["anna"],
        caller_id="+12025550999",
        order=["oldest_debt"],
        retry={"busy": {"after_minutes": 0.02, "max_attempts": 2}},
    )
    runner = await engine.add_campaign(campaign)
    ids = {}
    for reference, behaviour, zone, due in [
        ("P-TALK", PstnBehaviour.TALK, midday, date(2026, 1, 1)),
        ("P-BUSY", PstnBehaviour.BUSY, midday, date(2026, 2, 1)),
        ("P-NIGHT", PstnBehaviour.HUMAN, night, date(2025, 1, 1)),
    ]:
        ids[reference], _ = await engine.storage.cases.upsert_case(
            creditor="Acme",
            reference=reference,
            debtor_name=reference,
            amount_owed=Decimal("10.00"),
            currency="USD",
            numbers=[(behaviour.number("+120255503"), "mobile")],
            timezone=zone,
            campaign_id=runner.campaign_id,
            due_date=due,
        )

    runner.start()
    try:
        # The oldest due debt that may be called now comes first, with the agent reserved.
        async def talk_bridged():
            rows = await attempts_of(engine, ids["P-TALK"])
            return rows if rows and rows[0]["bridged_at"] else None

        [talk] = await eventually(talk_bridged, timeout=20, what="the first debtor to be bridged")
        await engine.ari.hangup(talk["channel_id"])  # the agent ends the conversation

        async def busy_twice():
            rows = await attempts_of(engine, ids["P-BUSY"])
            return rows if len(rows) == 2 and all(r["ended_at"] for r in rows) else None

        busy = await eventually(busy_twice, timeout=30, what="the busy line to be retried")
        assert [r["outcome"] for r in busy] == ["busy", "busy"]
        # Nothing to poll for: a third try must never come. Time enough for one, which the
        # rule forbids.
        await asyncio.sleep(2)
        assert len(await attempts_of(engine, ids["P-BUSY"])) == 2
        assert await attempts_of(engine, ids["P-NIGHT"]) == []
        assert [r["outcome"] for r in await attempts_of(engine, ids["P-TALK"])] == ["human"]
    finally:
        runner.stop()
    assert runner.state is CampaignState.STOPPED
    assert runner.placed == 3


async def test_given_a_predictive_campaign_with_too_few_agents_then_the_guard_abandons_and_counts(
    connected_engine: Engine,
    ready_agent: AgentStatus,
):
    engine = connected_engine
    campaign = CampaignConfig(
        name="predictive-test",
        dial_mode="predictive",
        pacing="ratio",
        compliance="plain",
        agents=["anna"],
        dial_ratio=2.0,
        max_lines=2,
        retry={"abandoned": {"after_minutes": 60, "max_attempts": 1}},
    )
    runner = await engine.add_campaign(campaign)
    cases = []
    for i in range(2):
        case_id, _ = await engine.storage.cases.upsert_case(
            creditor="Acme",
            reference=f"PR-{i}",
            debtor_name=f"PR-{i}",
            amount_owed=Decimal("10.00"),
            currency="USD",
            numbers=[(PstnBehaviour.TALK.number(f"+12025550{6 + i}"), "mobile")],
            campaign_id=runner.campaign_id,
        )
        cases.append(case_id)

    runner.start()
    try:

        async def both_settled():
            rows = [r for c in cases for r in await attempts_of(engine, c)]
            bridged = [r for r in rows if r["bridged_at"]]
            abandoned = [r for r in rows if r["outcome"] == "abandoned" and r["ended_at"]]
            return (bridged, abandoned) if len(bridged) == 1 and len(abandoned) == 1 else None

        (bridged,), _ = await eventually(
            both_settled, timeout=30, what="one call bridged and one abandoned"
        )
        await engine.ari.hangup(bridged["channel_id"])
    finally:
        runner.stop()
    rates = await engine.storage.reports.abandon_rates(runner.campaign_id, datetime.now(UTC))
    assert rates["today"].as_json() == {"abandons": 1, "live": 2, "rate": 0.5}
    assert rates["30d"].rate == 0.5


async def test_given_predictive_pacing_then_the_policy_sees_the_live_floor_and_learns_from_it(
    connected_engine: Engine,
    ready_agent: AgentStatus,
):
    """The pacing policy runs on the live path the simulator uses: it is shown the floor
    (calls ringing, agents talking) and told each call's fate and each conversation's length."""
    engine = connected_engine
    campaign = CampaignConfig(
        name="pacing-live-test",
        dial_mode="predictive",
        pacing="predictive",
        compliance="plain",
        agents=["anna"],
        order=["oldest_debt"],
        retry={
            outcome: {"after_minutes": 60, "max_attempts": 1}
            for outcome in ("busy", "rejected", "machine", "no_answer")
        },
    )
    runner = await engine.add_campaign(campaign)
    behaviours = [PstnBehaviour.BUSY, PstnBehaviour.REJECT, PstnBehaviour.MACHINE]
    behaviours.append(PstnBehaviour.TALK)
    cases = []
    for i, behaviour in enumerate(behaviours):
        case_id, _ = await engine.storage.cases.upsert_case(
            creditor="Acme",
            reference=f"PL-{i}",
            debtor_name=f"PL-{i}",
            amount_owed=Decimal("10.00"),
            currency="USD",
            numbers=[(behaviour.number(f"+120255507{i}"), "mobile")],
            campaign_id=runner.campaign_id,
            due_date=date(2025, 1, 1 + i),  # dialled in this order
        )
        cases.append(case_id)

    floors = []

    async def watch_floor():
        while True:
            if runner.pacing is not None:
                floors.append(runner.pacing.floor())
            await asyncio.sleep(0.2)  # a sample every 0.2 s, for the whole test: no wait

    watcher = asyncio.create_task(watch_floor())
    runner.start()
    try:

        async def talk_bridged():
            rows = await attempts_of(engine, cases[-1])
            return rows if rows and rows[0]["bridged_at"] else None

        [talk] = await eventually(talk_bridged, timeout=40, what="the talker to be bridged")
        await asyncio.sleep(1)  # the agent and the debtor talk: the policy learns how long
        await engine.ari.hangup(talk["channel_id"])  # the conversation ends

        policy = runner.pacing.policy

        async def conversation_learned():
            return len(policy.talk) == 1 or None

        await eventually(conversation_learned, timeout=10, what="talk and wrap-up to be told")
    finally:
        runner.stop()
        watcher.cancel()

    assert policy.name == "predictive"
    outcomes = [r["outcome"] for c in cases for r in await attempts_of(engine, c)]
    assert outcomes == ["busy", "rejected", "machine", "human"]
    # told every fate: busy, rejected (failed), machine, and the person at once when bridged
    assert round(policy.slow.weight) == 4
    assert policy.ledger.lives == 1 and policy.ledger.abandons == 0
    assert len(policy.ring) == 2 and len(policy.amd) == 2  # the two answered calls
    assert 0 < policy.amd.mean(0) < 10
    assert policy.talk.mean(0) >= 1.0  # it was bridged, then hung up a second later
    # it saw calls ringing and the agent on the call; one call at a time while it learns
    assert any(f.ringing for f in floors)
    assert any(f.in_call for f in floors)
    assert max(f.in_flight for f in floors) <= 1


async def test_given_the_first_batch_of_cases_cannot_be_called_then_the_planner_reaches_the_next(
    connected_engine: Engine,
    ready_agent: AgentStatus,
):
    """Cases the planner must leave alone (night where the debtor lives) are marked with when
    they are due again, so a small batch does not fetch them over and over and starve the rest."""
    engine = connected_engine
    campaign = CampaignConfig(
        name="batch-test", dial_mode="progressive", compliance="us", agents=["anna"]
    )
    runner = await engine.add_campaign(campaign, batch=2)
    night, midday = zone_at_local_hour(3), zone_at_local_hour(12)
    ids = []
    for i, (zone, due) in enumerate(
        [(night, date(2024, 1, 1)), (night, date(2024, 1, 2)), (midday, date(2026, 1, 1))]
    ):
        case_id, _ = await engine.storage.cases.upsert_case(
            creditor="Acme",
            reference=f"B-{i}",
            debtor_name=f"B-{i}",
            amount_owed=Decimal("10.00"),
            currency="USD",
            numbers=[(PstnBehaviour.BUSY.number(f"+120255508{i}"), "mobile")],
            timezone=zone,
            campaign_id=runner.campaign_id,
            due_date=due,
        )
        ids.append(case_id)

    runner.start()
    try:

        async def third_called_and_over():
            rows = await attempts_of(engine, ids[2])
            return rows if rows and rows[-1]["ended_at"] else None

        # Its busy call ended too: the test leaves no channel ringing behind it.
        await eventually(
            third_called_and_over, timeout=20, what="the case behind the first batch, called"
        )
    finally:
        runner.stop()
    marks = await engine.storage.pool.fetch(
        "SELECT id, dial_after FROM cases WHERE id = ANY($1) ORDER BY id", ids[:2]
    )
    assert all(m["dial_after"] and m["dial_after"] > datetime.now(UTC) for m in marks)
    assert await attempts_of(engine, ids[0]) == [] and await attempts_of(engine, ids[1]) == []


async def test_given_a_callback_is_due_then_it_is_dialled_first_to_its_owner(
    connected_engine: Engine,
    ready_agent: AgentStatus,
):
    engine = connected_engine
    runner = await engine.add_campaign(
        CampaignConfig(
            name="callback-test", dial_mode="progressive", compliance="plain", agents=["anna"]
        )
    )
    anna = await engine.storage.agents.get_agent("anna")
    number = PstnBehaviour.TALK.number("+120255509")
    case_id, _ = await engine.storage.cases.upsert_case(
        creditor="Acme",
        reference="CB-DUE",
        debtor_name="CB-DUE",
        amount_owed=Decimal("10.00"),
        currency="USD",
        numbers=[(number, "mobile")],
        campaign_id=runner.campaign_id,
        owner_agent_id=anna.id,
    )
    callback_id = await engine.storage.callbacks.create_callback(
        e164=number,
        due_at=datetime.now(UTC),
        source="agent",
        case_id=case_id,
        owner_agent_id=anna.id,
        owner_only=True,
    )
    runner.start()
    try:

        async def bridged():
            rows = await attempts_of(engine, case_id)
            return rows if rows and rows[0]["bridged_at"] else None

        [call] = await eventually(bridged, timeout=20, what="the callback to reach its owner")
        attempt = await engine.storage.attempts.get_attempt(call["channel_id"])
        assert attempt.agent_id == anna.id  # she was held for it before it was dialled
        await engine.ari.hangup(call["channel_id"])

        async def done():
            status = await engine.storage.pool.fetchval(
                "SELECT status FROM callbacks WHERE id = $1", callback_id
            )
            return status if status != "pending" else None

        assert await eventually(done, timeout=10, what="the callback to be settled") == "done"
    finally:
        runner.stop()
    assert len(await attempts_of(engine, case_id)) == 1  # the planner left the case alone


@pytest.mark.parametrize("detector", ["app_amd-tuned", "learned"])
async def test_given_a_campaign_with_the_tuned_or_learned_detector_then_a_long_hello_is_a_person(
    connected_engine: Engine,
    ready_agent: AgentStatus,
    detector: str,
):
    """ "Hello, John speaking." is three words: stock app_amd says MACHINE (and hangs up on a
    person); the campaign's tuned detector, or the learned one, puts him through."""
    engine = connected_engine
    runner = await engine.add_campaign(
        CampaignConfig(
            name=f"{detector}-amd-test",
            dial_mode="progressive",
            compliance="plain",
            agents=["anna"],
            amd_detector=detector,
        )
    )
    case_id, _ = await engine.storage.cases.upsert_case(
        creditor="Acme",
        reference=f"AMD-{detector}",
        debtor_name="AMD-T",
        amount_owed=Decimal("10.00"),
        currency="USD",
        numbers=[(PstnBehaviour.HUMAN_LONG_HELLO.number("+120255511"), "mobile")],
        campaign_id=runner.campaign_id,
    )
    runner.start()
    try:

        async def judged():
            rows = await attempts_of(engine, case_id)
            # The verdict is written just after the person is put through (he must not wait
            # for the write): wait for both, or for the call's end.
            done = rows and (rows[0]["ended_at"] or rows[0]["bridged_at"] and rows[0]["amd_status"])
            return rows if done else None

        [call] = await eventually(judged, timeout=20, what="the long hello to be judged")
        attempt = await engine.storage.attempts.get_attempt(call["channel_id"])
        assert attempt.amd_status == "HUMAN" and attempt.bridged_at is not None
        await engine.ari.hangup(call["channel_id"])
    finally:
        runner.stop()
