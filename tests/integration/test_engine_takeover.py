"""Two engines on one database and one PBX, and the one dialling the campaign SIGKILLed with a
debtor talking to one of its agents and another line ringing. The other engine takes the
campaign over within 10 s, sees on the PBX that the dead engine's beat stands still, and takes
over its agents (still in their bridges) and its calls: the ringing one is heard to its end (no
answer), the conversation goes on undisturbed and is written down when the debtor hangs up. It
dials the cases the dead engine had not; no case is dialled twice; the invariant checker
passes. `-s` prints the times."""

from __future__ import annotations

from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from tests.integration.engines import b_dials_on, kill_a_mid_call, placed, two_engines
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
