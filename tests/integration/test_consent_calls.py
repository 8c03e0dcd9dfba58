"""The consent ledger applied to calls, on a real PostgreSQL: an agent's "stop calling me" and a
refusal under the French profile enter the ledger, and the planner's candidates and the
callback queue leave the number alone for as long as the ledger says, no longer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pbx_engine.cases.dispositions import Disposition, DispositionInput
from pbx_engine.cases.service import DispositionService
from pbx_engine.messaging.consent import Channel, Consent, ConsentEntry, Source
from pbx_engine.storage import Storage

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
NUMBER = "+33612345678"
OTHER = "+33612345679"


class Floor:
    """Who an agent id is, and the desk notices: the two things the service tells others."""

    def __init__(self) -> None:
        self.saved: list[tuple[str, str]] = []

    def login_of(self, agent_id: int) -> str | None:
        return "anna"

    def disposition_saved(self, login: str, channel_id: str, saved: dict) -> None:
        self.saved.append((login, channel_id))


async def a_call(storage: Storage, channel_id: str) -> tuple[int, int, int]:
    """A case with two numbers in a campaign, and an ended call to the first; its ids."""
    campaign_id = await storage.campaigns.upsert_campaign("consent", "progressive")
    agent_id = await storage.agents.upsert_agent("anna", "Anna")
    case_id, _ = await storage.cases.upsert_case(
        creditor="Acme", reference="C-1", debtor_name="Jean Dupont", amount_owed=Decimal("50"),
        currency="EUR", numbers=[(NUMBER, "mobile"), (OTHER, "landline")],
        campaign_id=campaign_id, timezone="Europe/Paris",
    )  # fmt: skip
    await storage.attempts.create_attempt(
        channel_id=channel_id, dialled=NUMBER, case_id=case_id, campaign_id=campaign_id,
        agent_id=agent_id,
    )  # fmt: skip
    await storage.pool.execute(
        "UPDATE call_attempts SET ended_at = $2, outcome = 'human' WHERE channel_id = $1",
        channel_id,
        NOW - timedelta(hours=1),
    )
    return campaign_id, case_id, agent_id


async def numbers_as_planned(storage: Storage, campaign_id: int, at: datetime) -> dict:
    [candidate] = await storage.campaigns.campaign_candidates(campaign_id, now=at, limit=10)
    return {n.e164: (n.calls_revoked, n.calls_revoked_until) for n in candidate.numbers}


async def test_given_stop_calling_on_a_call_then_the_number_is_revoked_for_every_campaign(
    storage: Storage,
):
    campaign_id, case_id, agent_id = await a_call(storage, "out-stop")
    floor = Floor()
    service = DispositionService(storage, floor, floor, clock=lambda: NOW)
    agent = await storage.agents.get_agent("anna")
    await service.record(agent, "out-stop", DispositionInput(Disposition.STOP_CALLING))

    [record] = await storage.consent.ledger(NUMBER)
    assert record.entry.channels == {Channel.CALL}
    assert (record.entry.source, record.case_id, record.entered_by) == (
        Source.DISPOSITION,
        case_id,
        "anna",
    )
    later = NOW + timedelta(days=400)
    assert await numbers_as_planned(storage, campaign_id, later) == {
        NUMBER: (True, None),
        OTHER: (False, None),  # only the number he was called on
    }
    # He says yes again (in writing): the latest entry decides.
    await storage.consent.add_entry(
        ConsentEntry(NUMBER, frozenset({Channel.CALL}), Consent.GRANTED, Source.SUPERVISOR, later)
    )
    assert (await numbers_as_planned(storage, campaign_id, later))[NUMBER] == (False, None)


async def test_given_a_refusal_under_the_french_profile_then_no_call_for_60_days_then_calls_again(
    storage: Storage,
):
    campaign_id, _, _ = await a_call(storage, "out-refused")
    floor = Floor()
    service = DispositionService(
        storage, floor, floor, clock=lambda: NOW,
        refused_quiet_of=lambda campaign: timedelta(days=60) if campaign == campaign_id else None,
    )  # fmt: skip
    agent = await storage.agents.get_agent("anna")
    await service.record(agent, "out-refused", DispositionInput(Disposition.REFUSED))

    [record] = await storage.consent.ledger(NUMBER)
    assert (record.entry.until, record.entry.note) == (
        NOW + timedelta(days=60),
        "refused on a call: 60 days",
    )
    in_59_days = NOW + timedelta(days=59)
    assert (await numbers_as_planned(storage, campaign_id, in_59_days))[NUMBER] == (
        True,
        NOW + timedelta(days=60),
    )
    in_61_days = NOW + timedelta(days=61)
    assert (await numbers_as_planned(storage, campaign_id, in_61_days))[NUMBER] == (False, None)


async def test_given_a_callback_due_to_a_number_whose_calls_are_revoked_then_it_waits(
    storage: Storage,
):
    campaign_id, case_id, _ = await a_call(storage, "out-callback")
    await storage.callbacks.create_callback(
        e164=NUMBER, due_at=NOW - timedelta(minutes=5), source="agent", case_id=case_id
    )
    assert len(await storage.callbacks.due_callbacks(campaign_id, NOW, 10)) == 1
    await storage.consent.add_entry(
        ConsentEntry(
            NUMBER, frozenset({Channel.CALL}), Consent.REVOKED, Source.SUPERVISOR,
            NOW - timedelta(minutes=1), until=NOW + timedelta(days=1),
        )
    )  # fmt: skip
    assert await storage.callbacks.due_callbacks(campaign_id, NOW, 10) == []
    tomorrow = NOW + timedelta(days=1, minutes=1)
    assert len(await storage.callbacks.due_callbacks(campaign_id, tomorrow, 10)) == 1
