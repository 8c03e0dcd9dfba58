"""Two engines on one database and one PBX, and the one dialling the campaign SIGKILLed with a
debtor talking to one of its agents and another line ringing. The other engine takes the
campaign over within 10 s, sees on the PBX that the dead engine's beat stands still, and takes
over its agents (still in their bridges) and its calls: the ringing one is heard to its end (no
answer), the conversation goes on undisturbed and is written down when the debtor hangs up. It
dials the cases the dead engine had not; no case is dialled twice; the invariant checker
passes. And the engine standing by (no campaign of its own) cut off from the PBX: the one
dialling finds its beat standing still, takes its agent over and dials for her, and the cut-off
engine stands down. `-s` prints the times."""

from __future__ import annotations

import asyncio
import time

from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from tests.integration.engines import (
    agents_taken_over,
    b_dials_on,
    engine_process,
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


async def test_an_engine_without_a_campaign_gone_from_the_pbx_is_taken_over_and_stands_down(
    tmp_path,
):
    """engine-b stands by (engine-a dials the campaign) with olga logged in, and its path to the
    PBX goes dead (packets dropped): its beat stands still, engine-a takes olga over in her
    bridge and puts the campaign's next debtor through to her; engine-b, finding its run taken
    over, exits with status 3. Started again, it adopts nothing of that run: olga stays
    engine-a's."""
    # Three debtors who talk: the first two for engine-a's own agents (anna, piotr), the third
    # only once engine-a has olga, engine-b's agent, to put him through to.
    talkers = [PstnBehaviour.TALK.number(f"+1202555{440 + i:03d}") for i in range(3)]
    async with two_engines(
        tmp_path, talkers, campaign="standby", ring_timeout=20, max_lines=3, b_ari_proxied=True
    ) as floor:
        pool, b_path = floor.pool, floor.b_ari_proxy
        assert b_path is not None

        async def two_talking():
            rows = [r for r in await placed(pool) if r["bridged_at"]]
            return rows if len(rows) == 2 else None

        first = await eventually(two_talking, timeout=30, what="anna and piotr on calls")
        assert [r["dialled"] for r in first] == talkers[:2]
        assert len(await placed(pool)) == 2  # engine-a has no agent free, and olga is not its
        b_path.blackhole()
        cut_at = time.monotonic()

        async def stand_down() -> tuple[int, float]:
            status = await floor.processes["engine-b"].wait()
            return status, time.monotonic() - cut_at

        standing_down = asyncio.create_task(stand_down())
        await eventually(agents_taken_over(pool, {"olga"}), timeout=15, what="olga taken over")
        taken_after = time.monotonic() - cut_at

        async def put_through_to_olga():
            return await pool.fetchrow(
                "SELECT c.dialled, c.channel_id, c.placed_by FROM call_attempts c "
                "JOIN agents a ON a.id = c.agent_id WHERE a.login = 'olga' "
                "AND c.bridged_at IS NOT NULL"
            )

        olgas = await eventually(put_through_to_olga, timeout=20, what="a debtor with olga")
        through_after = time.monotonic() - cut_at
        assert (olgas["dialled"], olgas["placed_by"]) == (talkers[2], "engine-a")
        status, stood_down_after = await asyncio.wait_for(standing_down, timeout=30)
        assert status == 3, f"engine-b ended with {status}"
        assert await floor.logged("engine-b", "engine.taken_over")()

        # Its path back, engine-b started again: its last run was taken over, olga is not its.
        b_path.restore()
        again_log = tmp_path / "engine-b-again.log"
        async with engine_process(tmp_path / "engine-b.toml", again_log):
            api = floor.apis["engine-b"]
            await eventually(lambda: api.up(floor.admin), timeout=30, what="engine-b again")
            assert '"event": "engine.run_before_taken_over"' in again_log.read_text()
        adopted_again = await pool.fetchval(
            "SELECT count(*) FROM agent_state_changes s JOIN agents a ON a.id = s.agent_id "
            "WHERE a.login = 'olga' AND s.reason = 'adopted after a restart'"
        )
        assert adopted_again == 0
        for row in await placed(pool):
            assert await floor.telephony.engine.hangup(row["channel_id"])
        status, body = await floor.apis["engine-a"].post("/campaigns/standby/stop", floor.admin)
        assert status == 200, body
        rows = await floor.settled()
        assert [r["outcome"] for r in rows] == ["human"] * 3
        assert taken_after < 10.0, f"olga taken over {taken_after:.1f} s after the cut"
        print(
            f"\nengine-b (no campaign) cut off from its PBX: engine-a had its agent "
            f"{taken_after:.1f} s after the cut and put a debtor through to her "
            f"{through_after:.1f} s after it; engine-b stood down (status 3) "
            f"{stood_down_after:.1f} s after it"
        )
