"""The engine's Asterisk crashes mid-campaign and comes back: the calls it carried are lost
(nothing can keep them) and settled as such, the agents whose phones it dropped are logged out
rather than left ready on dead lines, and once they log in again the campaign dials on by its
rules. Its own PBX pair, engine and PostgreSQL cluster.

`-s` prints what the crash cost."""

from __future__ import annotations

import asyncio
import time
from functools import partial

from pbx_engine.agents.states import AgentState
from pbx_engine.lab.invariants import CallWatch
from tests.integration.faults import (
    CALLBACK_NUMBER,
    EVERY_STATE,
    EVERY_STATE_FLOOR,
    LOGINS,
    MIXED,
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


async def test_given_the_engines_asterisk_crashes_mid_campaign_then_its_calls_are_settled_as_lost_and_dialling_resumes(  # noqa: E501
):
    async with own_floor("asterisk_crash") as floor:
        engine = floor.engine
        behaviours = MIXED
        runner = await progressive_campaign(engine, "crash")
        async with CallWatch(floor.telephony.engine) as watch:
            runner.start()
            up_at_crash = await first_two_up(engine)
            reconnects = engine.ari.reconnects
            crashed_at = time.monotonic()
            await floor.telephony.engine.restart(crash=True)
            await eventually(
                now(lambda: engine.ari.reconnects > reconnects and engine.ari.connected.is_set()),
                timeout=20,
                what="the events websocket to reconnect",
            )
            reconnected = since(crashed_at)
            # A crashed PBX sends no BYE or CANCEL: the far ends of its calls stay up until the
            # network's own timers end them (a line ringing for minutes). Ended here, as those
            # timers would; counted as what the crash cost.
            stranded = await floor.telephony.pstn.channels()
            for channel in stranded:
                await floor.telephony.pstn.hangup(channel["id"])

            async def agents_logged_out():
                return all(a.state is AgentState.LOGGED_OUT for a in engine.agents.all())

            await eventually(agents_logged_out, timeout=10, what="the dropped agents logged out")
            # The agents log in again, as they would after their phones dropped.
            for login in LOGINS:
                await engine.agents.login(login)
            await all_settled(engine, len(behaviours))
            first_after = min(
                at for channel, at in watch.first_seen.items() if channel not in up_at_crash
            )
            runner.stop()
            violations = await violations_once_quiet(floor, watch)

        rows = await engine.storage.pool.fetch(
            "SELECT channel_id, outcome, hangup_cause_text FROM call_attempts"
        )
        lost = {r["channel_id"]: (r["outcome"], r["hangup_cause_text"]) for r in rows}
        print(
            f"\nAsterisk crash: ARI back after {reconnected:.2f} s; calls dropped: "
            f"{len(up_at_crash)} of {len(up_at_crash)} up, settled as "
            f"{sorted(lost[c] for c in up_at_crash)}; no dialling for "
            f"{first_after - crashed_at:.1f} s (agents logged in again by hand); far ends "
            f"left up on the phone network: {len(stranded)}"
        )
        assert all(lost[c][0] in ("human", "failed", "no_answer") for c in up_at_crash)
        assert len(rows) == len(behaviours)  # each case dialled once, none twice
        assert violations == []


DOWN_SECONDS = 30.0


async def test_given_the_engines_asterisk_is_stopped_for_30s_with_calls_in_every_state_then_nothing_is_dialled_into_the_void_and_dialling_resumes(  # noqa: E501
):
    number = partial(case_number, EVERY_STATE)
    async with own_floor("asterisk_down", **EVERY_STATE_FLOOR) as floor:
        engine = floor.engine
        runner = await every_state_campaign(engine, "down")
        pool = engine.storage.pool
        async with CallWatch(floor.telephony.engine) as watch:
            runner.start()
            states = await bring_every_state(floor)
            up_at_stop = states.up
            reconnects = engine.ari.reconnects
            outage = asyncio.create_task(
                floor.telephony.engine.restart(down_for=DOWN_SECONDS), name="asterisk-outage"
            )
            stopped_at = time.monotonic()
            await eventually(
                now(lambda: not engine.ari.connected.is_set()),
                timeout=15,
                what="the engine to notice its Asterisk gone",
            )
            noticed = since(stopped_at)
            ready_during = await engine.readiness()
            attempts_at_stop = await pool.fetchval("SELECT count(*) FROM call_attempts")
            await outage
            attempts_during = (
                await pool.fetchval("SELECT count(*) FROM call_attempts") - attempts_at_stop
            )
            back_at = time.monotonic()
            await eventually(
                now(lambda: engine.ari.reconnects > reconnects and engine.ari.connected.is_set()),
                timeout=20,
                what="the events websocket to reconnect",
            )
            reconnected = since(back_at)

            async def agents_logged_out():
                return all(a.state is AgentState.LOGGED_OUT for a in engine.agents.all())

            await eventually(agents_logged_out, timeout=10, what="the dropped agents logged out")
            for login in floor.phones:
                await engine.agents.login(login)
            await all_settled(engine, len(EVERY_STATE) + 1, timeout=60)
            first_after = min(at for at in watch.first_seen.values() if at > stopped_at)
            runner.stop()
            violations = await violations_once_quiet(floor, watch)

        calls = await calls_by_number(engine)
        # A call the dialer started as Asterisk began to stop is refused (503) before it rings:
        # on record as not placed, and the case is dialled once Asterisk is back.
        not_placed = [r for rows in calls.values() for r in rows if r["outcome"] == "not_placed"]
        outcomes = {
            n: [r["outcome"] for r in rows if r["outcome"] != "not_placed"]
            for n, rows in calls.items()
        }
        lost = sorted(
            r["outcome"] for rows in calls.values() for r in rows if r["channel_id"] in up_at_stop
        )
        print(
            f"\nAsterisk stopped {DOWN_SECONDS:.0f} s with {len(up_at_stop)} calls up (bridged, "
            f"under AMD, ringing), an agent in wrap-up and a callback falling due: noticed after "
            f"{noticed:.2f} s; ready during it: {ready_during.ready}; attempts made during it: "
            f"{attempts_during}; calls up settled as {lost}; ARI back {reconnected:.2f} s after "
            f"Asterisk; no dialling for {first_after - stopped_at:.1f} s (agents logged in again "
            f"by hand); the callback made {len(outcomes.get(CALLBACK_NUMBER, []))} time(s); "
            f"refused by the stopping Asterisk, not placed: {len(not_placed)}"
        )
        assert not ready_during.ready
        assert attempts_during == 0  # no case spent on a PBX that is not there
        assert len(up_at_stop) == 3
        assert all(outcome in ("human", "failed", "no_answer", "machine") for outcome in lost)
        # Each case dialled once, none twice; the callback due while it was down made once.
        assert sorted(outcomes) == sorted([*(number(i) for i in range(6)), CALLBACK_NUMBER])
        assert all(len(made) == 1 for made in outcomes.values())
        assert all(r["ringing_at"] is None and r["answered_at"] is None for r in not_placed)
        assert (outcomes[number(4)], outcomes[number(5)]) == (["busy"], ["rejected"])
        assert outcomes[CALLBACK_NUMBER] == ["busy"]
        assert violations == []
        assert await floor.telephony.pstn.channels() == []
