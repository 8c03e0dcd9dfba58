"""PostgreSQL goes away mid-campaign: the engine places no call it could not write down, lets
the calls it has run to their end, writes what it owes once the database is back, and dials
on. Its own PBX pair, engine and PostgreSQL cluster (the session's cluster is never stopped).

`-s` prints what the outage cost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.config import parse_config
from pbx_engine.engine import Engine, build_engine
from pbx_engine.lab.invariants import CallWatch, agent_views, check, take_snapshot
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour, Telephony
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.lab.sandbox.sipp import SippPhone
from pbx_engine.outbound.policy import SAFE_KINDS
from tests.integration.waiting import eventually

AGENTS = {"agent-001": "agent-001-secret", "agent-002": "agent-002-secret"}
LOGINS = {"anna": "agent-001", "piotr": "agent-002"}
OUTAGE_SECONDS = 30.0


@dataclass
class Floor:
    engine: Engine
    telephony: Telephony
    database: PostgresSandbox


@asynccontextmanager
async def own_floor() -> AsyncIterator[Floor]:
    """A PBX pair, a PostgreSQL cluster, an engine on them, two agents logged in."""
    async with AsyncExitStack() as stack:
        telephony = await stack.enter_async_context(Telephony.create(agents=AGENTS))
        database = await stack.enter_async_context(PostgresSandbox())
        dsn = await database.create_database("outage")
        pbx = telephony.engine
        config = parse_config(
            {
                "ari": {
                    "url": pbx.ari_url,
                    "username": pbx.ari_username,
                    "password": pbx.ari_password,
                },
                "database": {"dsn": dsn, "allow_superuser": True},
                "dialer": {"ring_timeout": 8, "caller_id": "+12025550999"},
                "agents": {"wrap_up_seconds": 0.5},
                "shutdown_grace": 5,
                "outbound": {"purposes": {"campaign": {"kinds": [*SAFE_KINDS, "unknown"]}}},
            },
            "outage-test",
            environ={},
        )
        engine = await stack.enter_async_context(build_engine(config))
        for login, endpoint in LOGINS.items():
            await stack.enter_async_context(
                SippPhone(endpoint, AGENTS[endpoint], pbx.sip_host, pbx.sip_port)
            )
            await engine.storage.agents.upsert_agent(login, login.title(), sip_endpoint=endpoint)
            await engine.agents.login(login)
        yield Floor(engine, telephony, database)


async def add_cases(engine: Engine, campaign_id: int, behaviours: list[PstnBehaviour]) -> None:
    for index, behaviour in enumerate(behaviours):
        await engine.storage.cases.upsert_case(
            creditor="Acme",
            reference=f"OUT-{index}",
            debtor_name=f"Debtor {index}",
            amount_owed=Decimal("10.00"),
            currency="USD",
            # +1 202 555 2IN: one number per case, its last digit the behaviour.
            numbers=[(behaviour.number(f"+120255520{index}"), "mobile")],
            campaign_id=campaign_id,
            due_date=None,
        )


async def quiet_and_clean(floor: Floor, watch: CallWatch) -> list:
    snapshot = await take_snapshot(
        floor.engine.storage.pool,
        floor.telephony.engine,
        floor.telephony.pstn,
        agents=agent_views(floor.engine.agents.all()),
        placed=watch.first_seen,
    )
    return check(snapshot)


async def test_given_postgres_is_unreachable_for_30s_mid_campaign_then_no_call_is_placed_calls_up_end_and_everything_is_written_after(  # noqa: E501
    outage_seconds: float = OUTAGE_SECONDS,
):
    async with own_floor() as floor:
        engine, pstn = floor.engine, floor.telephony.pstn
        campaign = CampaignConfig(
            name="outage", dial_mode="progressive", compliance="plain", max_lines=2
        )
        runner = await engine.add_campaign(campaign)
        # The first two are up when the database goes: a person talking to an agent (he
        # listens 20 s) and a line ringing to its timeout (8 s). The rest wait for it.
        await add_cases(
            engine,
            runner.campaign_id,
            [
                PstnBehaviour.HUMAN,
                PstnBehaviour.NO_ANSWER,
                PstnBehaviour.BUSY,
                PstnBehaviour.MACHINE,
                PstnBehaviour.REJECT,
            ],
        )
        async with CallWatch(floor.telephony.engine) as watch:
            runner.start()

            async def both_up():
                rows = await engine.storage.pool.fetch(
                    "SELECT channel_id, bridged_at, ringing_at FROM call_attempts"
                )
                bridged = [r for r in rows if r["bridged_at"]]
                ringing = [r for r in rows if r["ringing_at"] and not r["bridged_at"]]
                return rows if len(rows) == 2 and bridged and ringing else None

            first_calls = await eventually(both_up, timeout=20, what="a call bridged, one ringing")
            up_at_outage = {r["channel_id"] for r in first_calls}
            await floor.database.pause()
            outage_began = time.monotonic()
            await eventually(
                _async(lambda: not engine.records.writable),
                timeout=15,
                what="the engine to notice the outage",
            )
            noticed = time.monotonic() - outage_began

            async def calls_up_ended():
                return not (await watch.look()) & up_at_outage

            await eventually(calls_up_ended, timeout=outage_seconds, what="the calls up to end")
            ended_during_outage = time.monotonic() - outage_began
            await _wait_out(outage_began + outage_seconds)
            placed_during_outage = watch.seen_between(outage_began, time.monotonic())
            await floor.database.resume()
            outage_ended = time.monotonic()
            await eventually(
                _async(lambda: engine.records.writable), timeout=10, what="owed writes made"
            )
            caught_up = time.monotonic() - outage_ended

            async def all_dialled():
                count = await engine.storage.pool.fetchval(
                    "SELECT count(*) FROM call_attempts WHERE ended_at IS NOT NULL"
                )
                return count == 5 and runner.in_flight == 0

            await eventually(all_dialled, timeout=30, what="every case dialled once")
            first_after = min(
                at for channel, at in watch.first_seen.items() if channel not in up_at_outage
            )
            runner.stop()
            violations = await _eventually_clean(floor, watch)

        rows = await engine.storage.pool.fetch(
            "SELECT channel_id, outcome, bridged_at, ended_at, created_at FROM call_attempts "
            "ORDER BY created_at"
        )
        outcomes = {r["channel_id"]: r["outcome"] for r in rows}
        health = engine.records.health()
        print(
            f"\noutage {outage_seconds:.0f} s: noticed after {noticed:.2f} s; the "
            f"{len(up_at_outage)} calls up ended {ended_during_outage:.1f} s in, as "
            f"{sorted(outcomes[c] for c in up_at_outage)}; calls placed during it: "
            f"{len(placed_during_outage)}; owed writes made {caught_up:.2f} s after it "
            f"({health.written_late} writes, {health.given_up} given up); no dialling for "
            f"{first_after - outage_began:.1f} s (first call {first_after - outage_ended:.2f} s "
            f"after the database was back); unwritable {health.unwritable_seconds:.1f} s"
        )
        assert placed_during_outage == []
        assert sorted(outcomes[c] for c in up_at_outage) == ["human", "no_answer"]
        assert sorted(outcomes.values()) == [
            "busy",
            "human",
            "machine",
            "no_answer",
            "rejected",
        ]
        assert health.given_up == 0 and health.written_late > 0
        assert violations == []
        assert await pstn.channels() == []


def _async(condition):
    async def probe():
        return condition()

    return probe


async def _wait_out(deadline: float) -> None:
    """The outage lasts its whole length, whatever happened meanwhile."""
    remaining = deadline - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)


async def _eventually_clean(floor: Floor, watch: CallWatch) -> list:
    """The invariants, once the PBXs have let go of the last call (violations if never)."""
    found: list = []

    async def clean():
        nonlocal found
        found = await quiet_and_clean(floor, watch)
        return not found

    try:
        await eventually(clean, timeout=15, what="the invariants to hold")
    except AssertionError:
        pass
    return [str(v) for v in found]
