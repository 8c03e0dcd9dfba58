"""Numbers that cannot be reached, on a real PostgreSQL: an attempt the network ended with
"unallocated" puts its number on the dead-number list in the statement that settles it, once;
the planner leaves the number out for every case that has it, the case's other numbers stay;
an SMS to it has no mobile left; a case file's number that is not valid in its country's plan
loads but goes on the list, counted in the import's result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pbx_engine.cases.importer import parse_cases
from pbx_engine.storage import Storage

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
GONE = "+33612345678"
OTHER = "+33612345679"


async def a_case(storage: Storage, reference: str, campaign_id: int) -> int:
    case_id, _ = await storage.cases.upsert_case(
        creditor="Acme", reference=reference, debtor_name="Jean Dupont",
        amount_owed=Decimal("50"), currency="EUR",
        numbers=[(GONE, "mobile"), (OTHER, "mobile")], campaign_id=campaign_id,
        timezone="Europe/Paris",
    )  # fmt: skip
    return case_id


async def planned_numbers(storage: Storage, campaign_id: int) -> dict[int, list[str]]:
    candidates = await storage.campaigns.campaign_candidates(campaign_id, now=NOW, limit=10)
    return {c.case_id: [n.e164 for n in c.numbers] for c in candidates}


async def test_given_a_call_the_network_says_is_unallocated_then_its_number_is_dead_for_every_case(
    storage: Storage,
):
    campaign_id = await storage.campaigns.upsert_campaign("dead", "progressive")
    first = await a_case(storage, "D-1", campaign_id)
    second = await a_case(storage, "D-2", campaign_id)
    attempt_id = await storage.attempts.create_attempt(
        channel_id="dead-1", dialled=GONE, case_id=first, campaign_id=campaign_id
    )
    assert await planned_numbers(storage, campaign_id) == {
        first: [GONE, OTHER],
        second: [GONE, OTHER],
    }

    reason = "the network says: unallocated number (cause 1)"
    settled = await storage.attempts.finish_attempt(
        "dead-1", ended_at=NOW - timedelta(minutes=5), hangup_cause=1,
        hangup_cause_text="Unallocated", outcome="failed", number_gone=reason,
    )  # fmt: skip
    again = await storage.attempts.finish_attempt(
        "dead-1", ended_at=NOW, hangup_cause=1, hangup_cause_text="Unallocated",
        outcome="failed", number_gone="a late duplicate",
    )  # fmt: skip

    assert (settled, again) == (True, False)
    rows = await storage.pool.fetch("SELECT e164, reason, attempt_id, since FROM dead_numbers")
    assert [tuple(r) for r in rows] == [(GONE, reason, attempt_id, NOW - timedelta(minutes=5))]
    assert await planned_numbers(storage, campaign_id) == {first: [OTHER], second: [OTHER]}
    case = await storage.messages.message_case(second)
    assert case is not None and case.mobiles == (OTHER,)


async def test_given_a_call_that_failed_otherwise_then_its_number_stays(storage: Storage):
    campaign_id = await storage.campaigns.upsert_campaign("dead", "progressive")
    case_id = await a_case(storage, "D-3", campaign_id)
    await storage.attempts.create_attempt(
        channel_id="busy-1", dialled=GONE, case_id=case_id, campaign_id=campaign_id
    )
    await storage.attempts.finish_attempt(
        "busy-1", ended_at=NOW, hangup_cause=34, hangup_cause_text="Circuit congestion",
        outcome="failed",
    )  # fmt: skip
    assert await storage.pool.fetchval("SELECT count(*) FROM dead_numbers") == 0
    assert await planned_numbers(storage, campaign_id) == {case_id: [GONE, OTHER]}


async def test_given_a_case_file_with_a_number_no_plan_has_then_it_loads_and_is_dead(
    storage: Storage,
):
    await storage.campaigns.upsert_campaign("imported", "progressive")
    batch = parse_cases(
        [
            "reference,debtor_name,amount_owed,currency,creditor,phones\n",
            "I-1,Jan Kowalski,10.00,PLN,Acme,mobile:+48999999999;mobile:+48601234567\n",
        ],
        "PL",
    )
    assert batch.errors == []

    result = await storage.cases.import_cases(batch.rows, campaign="imported")

    assert result.phone_numbers == 2
    assert [(line, e164) for line, e164, _ in result.invalid_numbers] == [(2, "+48999999999")]
    reason = await storage.pool.fetchval(
        "SELECT reason FROM dead_numbers WHERE e164 = '+48999999999'"
    )
    assert reason == "+48999999999 is not a valid number in its country's numbering plan"
    campaign_id = await storage.pool.fetchval("SELECT id FROM campaigns WHERE name = 'imported'")
    [numbers] = (await planned_numbers(storage, campaign_id)).values()
    assert numbers == ["+48601234567"]
