"""Campaign leases on a real PostgreSQL: one engine holds a campaign at a time, another takes it
once the lease has run out, and the fence refuses a call from the engine that lost it; two
runners of one campaign on the real sandboxes dial it one at a time. And engines' runs: one is
taken over by one engine only, never for a later run."""

import asyncio
from decimal import Decimal

import pytest

from pbx_engine.agents.states import AgentStatus
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.dialer.campaign import CampaignRunner
from pbx_engine.dialer.lease import CampaignLease
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from pbx_engine.storage import Storage
from pbx_engine.storage.engine_runs import EngineRun, RunsSeen
from pbx_engine.storage.leases import Fence, FenceRefused, Taken
from tests.waiting import eventually


async def _campaign(storage: Storage, name: str) -> int:
    return await storage.campaigns.upsert_campaign(name, "predictive", "{}")


async def _attempt(storage: Storage, channel_id: str, campaign_id: int, fence: Fence | None):
    return await storage.attempts.create_attempt(
        channel_id=channel_id, dialled="+12025550100", campaign_id=campaign_id, fence=fence
    )


async def test_one_engine_holds_a_campaign_and_another_takes_it_once_the_lease_runs_out(
    storage: Storage,
):
    campaign = await _campaign(storage, "leased")
    taken = await storage.leases.take(campaign, "engine-a", 1.0)
    assert taken is not None and taken.taken_from is None
    first = taken.token
    assert await storage.leases.take(campaign, "engine-b", 1.0) is None  # held
    a = Fence(campaign, "engine-a", first)
    assert await _attempt(storage, "lease-1", campaign, a)
    assert await storage.leases.renew(a, 1.0)

    # engine-a stops renewing (cut off, or dead): engine-b gets the lease once it runs out.
    taken = await eventually(
        lambda: storage.leases.take(campaign, "engine-b", 5.0),
        timeout=5,
        what="the lease to run out and pass to engine-b",
    )
    second = taken.token
    assert second > first and taken.taken_from == "engine-a"  # whose calls may need an owner
    # engine-a's call planned just before: refused by the fence, and not on record.
    with pytest.raises(FenceRefused):
        await _attempt(storage, "lease-2", campaign, a)
    assert not await storage.leases.renew(a, 5.0)
    assert await storage.attempts.get_attempt("lease-2") is None
    assert await _attempt(storage, "lease-3", campaign, Fence(campaign, "engine-b", second))
    # The record says who placed each call, under which token.
    placed = [await storage.attempts.get_attempt(c) for c in ("lease-1", "lease-3")]
    assert [(a.placed_by, a.lease_token) for a in placed] == [
        ("engine-a", first),
        ("engine-b", second),
    ]


async def test_an_engine_restarted_under_its_name_takes_its_campaign_back_with_a_new_token(
    storage: Storage,
):
    """Its lease is still running, but the engine that took it is gone (or a zombie of it may
    still be about): the new runner gets the campaign at once, and the old token is dead."""
    campaign = await _campaign(storage, "restarted")
    old = await storage.leases.take(campaign, "engine-a", 30.0)
    new = await storage.leases.take(campaign, "engine-a", 30.0)
    assert old is not None and new == Taken(old.token + 1)  # nobody else's calls to take over
    old, new = old.token, new.token
    with pytest.raises(FenceRefused):
        await _attempt(storage, "restart-1", campaign, Fence(campaign, "engine-a", old))
    assert await _attempt(storage, "restart-2", campaign, Fence(campaign, "engine-a", new))


async def test_a_released_lease_is_free_at_once_and_leases_are_per_campaign(storage: Storage):
    one, two = await _campaign(storage, "one"), await _campaign(storage, "two")
    token = (await storage.leases.take(one, "engine-a", 30.0)).token
    assert await storage.leases.take(two, "engine-b", 30.0) is not None  # another campaign
    await storage.leases.release(Fence(one, "engine-a", token))
    assert await storage.leases.take(one, "engine-b", 30.0) == Taken(token + 1, "engine-a")


async def test_two_engines_asking_at_once_never_both_hold_the_campaign(storage: Storage):
    campaign = await _campaign(storage, "raced")
    tokens = await asyncio.gather(
        *(storage.leases.take(campaign, f"engine-{i}", 30.0) for i in range(8))
    )
    assert len([t for t in tokens if t is not None]) == 1


async def test_two_engines_on_one_campaign_dial_it_one_at_a_time_and_take_over(
    connected_engine: Engine, ready_agent: AgentStatus
):
    """A second runner of the campaign, as a second engine ("engine-b") would run it, stands by
    while the first holds the lease, and dials the campaign once the first stops."""
    engine = connected_engine
    campaign = CampaignConfig(
        name="shared", dial_mode="progressive", compliance="plain", agents=["anna"]
    )
    first = await engine.add_campaign(campaign)
    second = CampaignRunner(
        campaign,
        first.campaign_id,
        engine.kept_storage,
        engine.dialer,
        engine.agents,
        holder="engine-b",
        lease=CampaignLease(seconds=3.0, renew_every=1.0, margin=1.0),
    )
    standby = asyncio.create_task(second.run())

    async def case(reference: str) -> int:
        case_id, _ = await engine.storage.cases.upsert_case(
            creditor="Acme",
            reference=reference,
            debtor_name=reference,
            amount_owed=Decimal("10.00"),
            currency="USD",
            # Refused at once (cause 21): one attempt each, retried only hours later.
            numbers=[(PstnBehaviour.REJECT.number(f"+120255507{len(reference)}"), "mobile")],
            campaign_id=first.campaign_id,
        )
        return case_id

    async def attempts(case_id: int) -> list:
        rows = await engine.storage.pool.fetch(
            "SELECT outcome, ended_at FROM call_attempts WHERE case_id = $1", case_id
        )
        return rows if rows and all(r["ended_at"] for r in rows) else None

    try:
        first.start()

        async def first_holds():
            return first.lease.token is not None

        await eventually(first_holds, timeout=5, what="the first runner to take the lease")
        second.start()
        one = await case("L-1")
        assert len(await eventually(lambda: attempts(one), timeout=15, what="L-1 dialled")) == 1
        # The standby runner asks for the lease, in vain, while the first holds it.
        refused = second.lease.refusals

        async def standby_asked_again():
            return second.lease.refusals > refused

        await eventually(standby_asked_again, timeout=5, what="the standby to ask again")
        assert (first.placed, second.placed) == (1, 0)
        assert second.lease.token is None

        first.stop()  # its lease is let go at its next tick
        two = await case("L-22")
        assert len(await eventually(lambda: attempts(two), timeout=15, what="L-22 dialled")) == 1
        assert (first.placed, second.placed) == (1, 1)
        assert len(await attempts(one)) == 1  # nobody dialled the first case again
    finally:
        first.stop()
        second.stop()
        standby.cancel()
        await asyncio.gather(standby, return_exceptions=True)


async def test_an_engine_run_is_taken_over_once_and_never_for_a_later_run(storage: Storage):
    runs = storage.engine_runs
    a = EngineRun("engine-a", "app-a", "aaaa0001")
    b = EngineRun("engine-b", "app-b", "bbbb0001")
    assert await runs.enter(a) is None
    await runs.enter(b)
    assert await runs.seen_by(b) == RunsSeen(None, [a])
    # Eight engines find engine-a's beat standing still at once: one takes it, with its app.
    claims = await asyncio.gather(*(runs.claim("engine-a", a.life, f"e{i}") for i in range(8)))
    takers = [f"e{i}" for i, app in enumerate(claims) if app is not None]
    assert len(takers) == 1 and set(claims) == {"app-a", None}
    assert (await runs.seen_by(a)).taken_by == takers[0]
    assert await runs.seen_by(b) == RunsSeen(None, [])  # nobody watches a run taken over
    # Restarted, engine-a learns its last run was taken (and adopts nothing of it); the new run
    # is its own, and a claim for the old one takes nothing.
    again = EngineRun("engine-a", "app-a", "aaaa0002")
    assert await runs.enter(again) == takers[0]
    assert await runs.claim("engine-a", a.life, "engine-b") is None
    assert await runs.seen_by(again) == RunsSeen(None, [b])
    # A clean stop: off the record, nothing to take.
    await runs.leave(again)
    assert await runs.seen_by(b) == RunsSeen(None, [])
    assert await runs.claim("engine-a", again.life, "engine-b") is None
