"""Two engines on one database and one PBX, and the one dialling the campaign SIGKILLed with a
debtor talking to one of its agents and another line ringing. The other engine takes the
campaign over within 10 s, sees on the PBX that the dead engine's beat stands still, and takes
over its calls: the ringing one is heard to its end (no answer), the conversation goes on
undisturbed and is written down when the debtor hangs up. It dials the cases the dead engine
had not; no case is dialled twice; the invariant checker passes. `-s` prints the times."""

from __future__ import annotations

import signal
import time

from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from tests.integration.engines import held_by, placed, two_engines
from tests.waiting import eventually

# Dialled in this order, at once by engine-a for its two agents: a debtor who talks (put
# through to an agent) and a line that rings until the ring timeout; then lines that ring.
TALKING = PstnBehaviour.TALK.number("+1202555400")
RINGING = PstnBehaviour.NO_ANSWER.number("+1202555401")
OTHERS = [PstnBehaviour.NO_ANSWER.number(f"+1202555{420 + i:03d}") for i in range(6)]


async def test_an_engine_killed_mid_call_leaves_its_campaign_and_calls_to_the_other(tmp_path):
    numbers = [TALKING, RINGING, *OTHERS]
    async with two_engines(tmp_path, numbers, campaign="takeover", ring_timeout=20) as floor:
        pool, campaign_id, watch = floor.pool, floor.campaign_id, floor.watch

        async def talking_and_ringing():
            rows = {r["dialled"]: r for r in await placed(pool)}
            talking, ringing = rows.get(TALKING), rows.get(RINGING)
            if talking and talking["bridged_at"] and ringing and not ringing["ended_at"]:
                return talking, ringing
            return None

        talking, ringing = await eventually(
            talking_and_ringing, timeout=30, what="a debtor with an agent, a line ringing"
        )
        assert {talking["placed_by"], ringing["placed_by"]} == {"engine-a"}
        engine_a = floor.processes["engine-a"]
        engine_a.send_signal(signal.SIGKILL)
        await engine_a.wait()
        killed_at = time.monotonic()
        took_after = await held_by(pool, campaign_id, "engine-b", since=killed_at)

        async def taken_over():
            rows = {r["dialled"]: r for r in await placed(pool)}
            return all(rows[n]["placed_by"] == "engine-b" for n in (TALKING, RINGING)) or None

        await eventually(taken_over, timeout=15, what="engine-b taking over engine-a's calls")
        calls_after = time.monotonic() - killed_at
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

        async def dialled_by_b():
            rows = [r for r in await placed(pool) if r["dialled"] in OTHERS]
            return rows or None

        await eventually(dialled_by_b, timeout=20, what="engine-b dialling the next case")
        status, body = await floor.apis["engine-b"].post("/campaigns/takeover/stop", floor.admin)
        assert status == 200, body

        rows = await floor.settled()
        assert {r["placed_by"] for r in rows} == {"engine-b"}  # engine-a's two taken over
        assert took_after < 10.0, f"engine-b took over {took_after:.1f} s after the kill"
        print(
            f"\nengine-a killed with a conversation and a ringing line: engine-b held the "
            f"campaign {took_after:.1f} s after the kill and had its calls "
            f"{calls_after:.1f} s after it; {len(rows)} calls, none dialled twice"
        )
