"""Two engines on one database and one PBX, and the one dialling the campaign SIGKILLed with a
debtor talking to one of its agents and another line ringing. The other engine takes the
campaign over within 10 s, sees on the PBX that the dead engine's beat stands still, and takes
over its agents (still in their bridges) and its calls: the ringing one is heard to its end (no
answer), the conversation goes on undisturbed and is written down when the debtor hangs up. It
dials the cases the dead engine had not; no case is dialled twice; the invariant checker
passes. And the engine standing by (no campaign of its own) SIGKILLed: the one dialling finds
its beat standing still, takes its agent over and dials for her. `-s` prints the times."""

from __future__ import annotations

import signal
import time

from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from tests.integration.engines import (
    agents_taken_over,
    b_dials_on,
    kill_a_mid_call,
    placed,
    two_engines,
)
from tests.waiting import eventually

# Dialled in this order, at once by engine-a for its two agents: a debtor who talks (put
# through to an agent) and a line that rings until the ring timeout; then lines that ring.
TALKING = PstnBehaviour.TALK.number("+1202555400")
RINGING = PstnBehaviour.NO_ANSWER.number("+1202555401")
OTHERS = [PstnBehaviour.NO_ANSWER.number(f"+1202555{420 + i:03d}") for i in range(6)]


async def test_an_engine_killed_mid_call_leaves_its_campaign_and_calls_to_the_other(tmp_path):
    numbers = [TALKING, RINGING, *OTHERS]
    async with two_engines(tmp_path, numbers, campaign="takeover", ring_timeout=20) as floor:
        pool, watch = floor.pool, floor.watch

        killed = await kill_a_mid_call(floor, TALKING, RINGING)
        talking, took_after, calls_after = killed.talking, killed.took_after, killed.calls_after
        assert talking["channel_id"] in watch.up, "the conversation was cut"

        async def ringing_ended():
            row = next(r for r in await placed(pool) if r["dialled"] == RINGING)
            return row if row["ended_at"] else None

        ringing = await eventually(ringing_ended, timeout=30, what="the ringing line's end")
        assert ringing["outcome"] == "no_answer"
        # The debtor hangs up: his conversation, taken over, is written down by engine-b.
        assert await floor.telephony.engine.hangup(talking["channel_id"])

        async def talking_ended():
            row = next(r for r in await placed(pool) if r["dialled"] == TALKING)
            return row if row["ended_at"] else None

        talking = await eventually(talking_ended, timeout=15, what="the conversation's end")
        assert talking["outcome"] == "human"
        _, rows = await b_dials_on(floor, "takeover", OTHERS, took_after)
        print(
            f"\nengine-a killed with a conversation and a ringing line: engine-b held the "
            f"campaign {took_after:.1f} s after the kill and had its calls "
            f"{calls_after:.1f} s after it; {len(rows)} calls, none dialled twice"
        )


async def test_an_engine_without_a_campaign_killed_leaves_its_agent_to_the_one_dialling(tmp_path):
    # Three debtors who talk: the first two for engine-a's own agents (anna, piotr), the third
    # only once engine-a has olga, engine-b's agent, to put him through to.
    talkers = [PstnBehaviour.TALK.number(f"+1202555{440 + i:03d}") for i in range(3)]
    async with two_engines(
        tmp_path, talkers, campaign="standby", ring_timeout=20, max_lines=3
    ) as floor:
        pool = floor.pool

        async def two_talking():
            rows = [r for r in await placed(pool) if r["bridged_at"]]
            return rows if len(rows) == 2 else None

        first = await eventually(two_talking, timeout=30, what="anna and piotr on calls")
        assert [r["dialled"] for r in first] == talkers[:2]
        assert len(await placed(pool)) == 2  # engine-a has no agent free, and olga is not its
        engine_b = floor.processes["engine-b"]
        engine_b.send_signal(signal.SIGKILL)
        await engine_b.wait()
        killed_at = time.monotonic()
        await eventually(agents_taken_over(pool, {"olga"}), timeout=15, what="olga taken over")
        taken_after = time.monotonic() - killed_at

        async def put_through_to_olga():
            row = await pool.fetchrow(
                "SELECT c.dialled, c.channel_id, c.placed_by FROM call_attempts c "
                "JOIN agents a ON a.id = c.agent_id WHERE a.login = 'olga' "
                "AND c.bridged_at IS NOT NULL"
            )
            return row

        olgas = await eventually(put_through_to_olga, timeout=20, what="a debtor with olga")
        through_after = time.monotonic() - killed_at
        assert (olgas["dialled"], olgas["placed_by"]) == (talkers[2], "engine-a")
        for row in await placed(pool):
            assert await floor.telephony.engine.hangup(row["channel_id"])
        status, body = await floor.apis["engine-a"].post("/campaigns/standby/stop", floor.admin)
        assert status == 200, body
        rows = await floor.settled()
        assert [r["outcome"] for r in rows] == ["human"] * 3
        assert taken_after < 10.0, f"olga taken over {taken_after:.1f} s after the kill"
        print(
            f"\nengine-b (no campaign) killed: engine-a had its agent {taken_after:.1f} s after "
            f"the kill and put a debtor through to her {through_after:.1f} s after it"
        )
