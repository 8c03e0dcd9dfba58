"""PostgreSQL goes away mid-campaign: the engine places no call it could not write down, lets
the calls it has run to their end, writes what it owes once the database is back, and dials
on. Its own PBX pair, engine and PostgreSQL cluster (the session's cluster is never stopped).

`-s` prints what the outage cost."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from functools import partial

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.dialer.service import CallRequest
from pbx_engine.lab.invariants import AbandonWitness, CallWatch
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from pbx_engine.recordkeeper import NotRecording
from pbx_engine.web.api import build_app
from tests.integration.faults import (
    CALLBACK_NUMBER,
    EVERY_STATE,
    EVERY_STATE_FLOOR,
    LOGINS,
    MIXED,
    add_cases,
    all_settled,
    bring_every_state,
    calls_by_number,
    case_number,
    every_state_campaign,
    first_two_up,
    now,
    own_floor,
    progressive_campaign,
    since,
    violations_once_quiet,
)
from tests.integration.waiting import eventually

# At least the 20 s the first call's debtor listens: the calls up end during the outage.
OUTAGE_SECONDS = 30.0


async def test_given_postgres_is_unreachable_for_30s_with_calls_in_every_state_then_no_call_is_placed_calls_up_end_and_everything_is_written_after(  # noqa: E501
    outage_seconds: float = OUTAGE_SECONDS,
):
    number = partial(case_number, EVERY_STATE)
    async with own_floor("outage", **EVERY_STATE_FLOOR) as floor:
        engine = floor.engine
        runner = await every_state_campaign(engine, "outage")
        async with CallWatch(floor.telephony.engine) as watch:
            runner.start()
            states = await bring_every_state(floor)
            up_at_outage, wrapping = states.up, states.wrapping
            await floor.database.pause()
            outage_began, outage_wall = time.monotonic(), datetime.now(UTC)
            await eventually(
                now(lambda: not engine.records.writable),
                timeout=15,
                what="the engine to notice the outage",
            )
            noticed = since(outage_began)
            with pytest.raises(NotRecording):  # an API's test call too
                engine.dialer.place_call(CallRequest(number=PstnBehaviour.BUSY.number()))

            async def calls_up_ended():
                return not (await watch.look()) & up_at_outage

            await eventually(calls_up_ended, timeout=outage_seconds, what="the calls up to end")
            ended_in = since(outage_began)
            # The outage lasts its whole length, whatever happened meanwhile.
            await asyncio.sleep(max(0.0, outage_began + outage_seconds - time.monotonic()))
            placed_during_outage = watch.seen_between(outage_began, time.monotonic())
            await floor.database.resume()
            outage_ended = time.monotonic()
            await eventually(
                now(lambda: engine.records.writable), timeout=10, what="the owed writes made"
            )
            caught_up = since(outage_ended)
            await all_settled(engine, len(EVERY_STATE) + 1, timeout=60)
            first_after = min(at for at in watch.first_seen.values() if at > outage_began)
            runner.stop()
            violations = await violations_once_quiet(floor, watch)

        calls = await calls_by_number(engine)
        outcomes = {n: [r["outcome"] for r in rows] for n, rows in calls.items()}
        machine = calls[number(3)][0]
        changes = await engine.storage.pool.fetch(
            "SELECT s.state, s.at FROM agent_state_changes s JOIN agents a ON a.id = s.agent_id "
            "WHERE a.login = $1 ORDER BY s.id",
            wrapping,
        )
        ready_again = [r["at"] for r in changes if r["state"] == "ready" and r["at"] > outage_wall]
        health = engine.records.health()
        verdict_when = "during" if machine["amd_decided_at"] > outage_wall else "before"
        print(
            f"\noutage {outage_seconds:.0f} s with {len(up_at_outage)} calls up (bridged, under "
            f"AMD, ringing), an agent in wrap-up and a callback falling due: noticed after "
            f"{noticed:.2f} s; the calls up ended {ended_in:.1f} s in; the machine's verdict "
            f"{machine['amd_status']} {verdict_when} the outage; calls placed during it: "
            f"{len(placed_during_outage)}; owed writes "
            f"made {caught_up:.2f} s after it ({health.written_late} writes, {health.given_up} "
            f"given up); no dialling for {first_after - outage_began:.1f} s (first call "
            f"{first_after - outage_ended:.2f} s after the database was back); unwritable "
            f"{health.unwritable_seconds:.1f} s"
        )
        assert placed_during_outage == []
        assert outcomes == {
            number(0): ["human"],
            number(1): ["human"],
            number(2): ["no_answer"],
            number(3): ["machine"],
            number(4): ["busy"],
            number(5): ["rejected"],
            CALLBACK_NUMBER: ["busy"],  # due in the outage, made once after it
        }
        assert machine["amd_status"] == "MACHINE"
        # His wrap-up ended in the outage: written late, at the time it ended.
        assert ready_again and min(ready_again) < outage_wall + timedelta(seconds=outage_seconds)
        assert health.given_up == 0 and health.written_late > 0
        assert violations == []
        assert await floor.telephony.pstn.channels() == []


async def test_given_postgres_is_unreachable_when_a_debtor_is_abandoned_then_the_abandon_is_counted_and_his_callback_owed(  # noqa: E501
    outage_seconds: float = 10.0,
):
    async with own_floor("abandon_outage") as floor:
        engine = floor.engine
        runner = await engine.add_campaign(
            CampaignConfig(name="abandon", dial_mode="predictive", compliance="plain")
        )
        await add_cases(engine, runner.campaign_id, [PstnBehaviour.HUMAN])
        case_id = await engine.storage.pool.fetchval("SELECT id FROM cases")
        for login in LOGINS:
            await engine.agents.pause(login, "meeting")  # nobody to take the debtor
        async with (
            CallWatch(floor.telephony.engine) as watch,
            AbandonWitness(floor.telephony.engine) as witness,
        ):
            placed = engine.dialer.place_call(
                CallRequest(
                    number=PstnBehaviour.HUMAN.number("+1202555200"),
                    case_id=case_id,
                    campaign_id=runner.campaign_id,
                )
            )

            async def ringing():
                attempt = await engine.storage.attempts.get_attempt(placed.channel_id)
                return attempt is not None and attempt.ringing_at is not None

            await eventually(ringing, timeout=10, what="the call to ring")
            # He answers (after 1 s of ringing) while the database is away.
            await floor.database.pause()
            outage_began = time.monotonic()
            result = await asyncio.wait_for(placed.task, timeout=outage_seconds + 20)
            assert not engine.records.writable  # the verdict and end came in the outage
            await asyncio.sleep(max(0.0, outage_began + outage_seconds - time.monotonic()))
            await floor.database.resume()
            await eventually(
                now(lambda: engine.records.writable), timeout=10, what="the owed writes made"
            )
            violations = await violations_once_quiet(floor, watch, abandon_heard=witness.heard)

        attempt = await engine.storage.attempts.get_attempt(placed.channel_id)
        callbacks = await engine.storage.pool.fetch(
            "SELECT source, channel_id FROM callbacks WHERE case_id = $1", case_id
        )
        print(
            f"\nabandon during a {outage_seconds:.0f} s outage: heard the message "
            f"{len(witness.heard)}, counted {int(attempt.abandoned)}, callbacks owed "
            f"{len(callbacks)}, writes made late {engine.records.health().written_late}"
        )
        assert result.outcome.value == "abandoned"
        assert witness.heard == {placed.channel_id}
        assert (attempt.outcome, attempt.abandoned) == ("abandoned", True)
        assert attempt.amd_status == "HUMAN"
        assert [(c["source"], c["channel_id"]) for c in callbacks] == [
            ("abandoned", placed.channel_id)
        ]
        assert violations == []


async def test_given_postgres_restarts_mid_campaign_then_the_pool_reconnects_and_nothing_is_lost():
    """A restart (fast shutdown, then straight back: a minor upgrade, a failover) cuts every
    pooled connection; the next query on each would fail were it not replaced."""
    async with own_floor("pg_restart") as floor:
        engine = floor.engine
        behaviours = MIXED
        runner = await progressive_campaign(engine, "pg_restart")
        async with CallWatch(floor.telephony.engine) as watch:
            runner.start()
            up_at_restart = await first_two_up(engine)
            restarted_at = time.monotonic()
            await floor.database.pause()
            await floor.database.resume()
            restart_took = since(restarted_at)
            await all_settled(engine, len(behaviours))
            first_after = min(
                at for channel, at in watch.first_seen.items() if channel not in up_at_restart
            )
            runner.stop()
            violations = await violations_once_quiet(floor, watch)
            ready = await engine.readiness()

        rows = await engine.storage.pool.fetch("SELECT channel_id, outcome FROM call_attempts")
        outcomes = {r["channel_id"]: r["outcome"] for r in rows}
        health = engine.records.health()
        print(
            f"\nPostgreSQL restart ({restart_took:.2f} s down): calls up settled as "
            f"{sorted(outcomes[c] for c in up_at_restart)}; {health.written_late} writes made "
            f"late, {health.given_up} given up; next call {first_after - restarted_at:.1f} s "
            f"after the restart began"
        )
        assert sorted(outcomes.values()) == ["busy", "human", "machine", "no_answer", "rejected"]
        assert health.given_up == 0
        assert ready.ready, ready.as_json()
        assert violations == []


FROZEN_SECONDS = 15.0
COMMAND_TIMEOUT = 2.0


async def test_given_postgres_hangs_with_its_connections_open_then_queries_time_out_and_what_is_owed_is_written_after():  # noqa: E501
    """The server stops answering but breaks nothing (its processes stopped: a stuck disk, a
    paused VM): no connection error ever comes, only [database] command_timeout ends a query."""
    async with own_floor(
        "pg_frozen", database_options={"command_timeout": COMMAND_TIMEOUT}
    ) as floor:
        engine = floor.engine
        behaviours = MIXED
        runner = await progressive_campaign(engine, "frozen")
        async with CallWatch(floor.telephony.engine) as watch:
            runner.start()
            up_at_freeze = await first_two_up(engine)
            floor.database.freeze()
            frozen_at = time.monotonic()
            try:
                await eventually(
                    now(lambda: not engine.records.writable),
                    timeout=COMMAND_TIMEOUT + 10,
                    what="the engine to notice the database hangs",
                )
                noticed = since(frozen_at)
                await asyncio.sleep(max(0.0, frozen_at + FROZEN_SECONDS - time.monotonic()))
                placed_while_unwritable = watch.seen_between(frozen_at + noticed, time.monotonic())
            finally:
                floor.database.thaw()
            thawed_at = time.monotonic()
            await eventually(
                now(lambda: engine.records.writable), timeout=15, what="the owed writes made"
            )
            caught_up = since(thawed_at)
            await all_settled(engine, len(behaviours), timeout=60)
            runner.stop()
            violations = await violations_once_quiet(floor, watch)

        rows = await engine.storage.pool.fetch("SELECT channel_id, outcome FROM call_attempts")
        outcomes = {r["channel_id"]: r["outcome"] for r in rows}
        health = engine.records.health()
        print(
            f"\nPostgreSQL hung {FROZEN_SECONDS:.0f} s (command_timeout {COMMAND_TIMEOUT:g} s): "
            f"noticed after {noticed:.2f} s; calls placed while unwritable: "
            f"{len(placed_while_unwritable)}; calls up settled as "
            f"{sorted(outcomes[c] for c in up_at_freeze)}; owed writes made {caught_up:.2f} s "
            f"after ({health.written_late} late, {health.given_up} given up)"
        )
        assert placed_while_unwritable == []
        assert sorted(outcomes.values()) == ["busy", "human", "machine", "no_answer", "rejected"]
        assert health.given_up == 0
        assert violations == []


async def test_given_postgres_is_unreachable_when_a_debtor_calls_in_then_an_agent_takes_him_and_the_call_is_written_after():  # noqa: E501
    """An inbound caller is on the line whether or not the database is: he is put through to
    an agent (unidentified, as the case look-up cannot run), recorded, and his call's record
    and its recording's are owed. The API meanwhile answers 503, saying why."""
    caller = "+13125550777"
    async with own_floor("inbound_outage", inbound={"recording": "mixed"}) as floor:
        engine = floor.engine
        token = await engine.storage.issue_agent_token(next(iter(LOGINS)))
        server = TestServer(build_app(engine), host="127.0.0.1")
        await server.start_server()
        try:
            async with CallWatch(floor.telephony.engine) as watch:
                await floor.database.pause()
                await eventually(
                    now(lambda: not engine.records.writable),
                    timeout=15,
                    what="the engine to notice the outage",
                )
                channel = await floor.telephony.pstn.call_engine(
                    "+12025551000", caller, manner="talk"
                )

                def taken():
                    return next((a for a in engine.agents.all() if a.call_id is not None), None)

                agent = await eventually(now(taken), timeout=15, what="an agent to take him")
                login = agent.login
                await eventually(
                    now(lambda: engine.recorder.recording(agent.call_id)),
                    timeout=10,
                    what="the call to be recorded",
                )
                async with (
                    aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
                    http.get(server.make_url("/agents/me")) as response,
                ):
                    api_answer = (response.status, await response.json())
                    retry_after = response.headers.get("Retry-After")
                await floor.telephony.pstn.hangup(channel)
                await eventually(
                    now(lambda: engine.agents.status(login).call_id is None),
                    timeout=15,
                    what="the call to end",
                )
                await floor.database.resume()
                await eventually(
                    now(lambda: engine.records.writable), timeout=15, what="the owed writes made"
                )
                violations = await violations_once_quiet(floor, watch)
        finally:
            await server.close()

        row = await engine.storage.pool.fetchrow(
            "SELECT id, channel_id, agent_id, route, bridged_at, ended_at, outcome "
            "FROM call_attempts "
            "WHERE direction = 'inbound' AND caller_id = $1",
            caller,
        )
        files = await engine.storage.recordings.recordings_of_attempt(row["id"]) if row else []
        health = engine.records.health()
        print(
            f"\ninbound call during an outage: taken by {login}, written after it as "
            f"{dict(row) if row else None}; recordings {[(f.name, f.ended_at) for f in files]}; "
            f"the API said {api_answer}; {health.written_late} writes made late, "
            f"{health.given_up} given up"
        )
        assert api_answer[0] == 503 and "database" in api_answer[1]["error"]
        assert retry_after is not None
        assert row is not None, "the inbound call was never written down"
        assert row["agent_id"] == engine.agents.agent_id(login)
        assert row["route"] == f"anyone: {login}" or row["route"].endswith(f": {login}")
        assert row["bridged_at"] is not None and row["ended_at"] is not None
        assert row["outcome"] == "human"
        [recording] = files
        assert recording.name == f"call-{row['channel_id']}"  # no attempt id while unwritable
        assert recording.ended_at is not None and recording.started_at >= row["bridged_at"]
        assert health.given_up == 0
        assert violations == []
