"""Two media nodes, each an Asterisk with its own engine, one database: the node dialling the
campaign is SIGKILLed mid-campaign. Its engine, deaf to its PBX, stops renewing the lease; the
other engine takes the campaign within 10 s and dials on its own node. The calls that died with
the node are accounted for once it is back (its engine settles them from the record), nobody
takes them for its own in between (their node is not the other engine's), no case is dialled
twice, and the invariant checker passes on both nodes. `-s` prints the times."""

from __future__ import annotations

import asyncio
import time

from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from tests.integration.engines import all_ended, calls_by, held_by, holds, two_engines
from tests.waiting import eventually

CASES = 30
DOWN_FOR = 20.0  # seconds the killed node stays down


def number_of(index: int) -> str:
    return PstnBehaviour.NO_ANSWER.number(f"+1202555{500 + index:03d}")


async def test_a_node_killed_mid_campaign_leaves_the_campaign_to_the_other_node(tmp_path):
    numbers = [number_of(i) for i in range(CASES)]
    async with two_engines(
        tmp_path, numbers, campaign="nodes", ring_timeout=8, pbx_per_engine=True
    ) as floor:
        pool, campaign_id = floor.pool, floor.campaign_id

        async def ringing_on_a():
            rows = await calls_by(pool, "engine-a")
            return rows if len(rows) >= 2 and not all(r["ended_at"] for r in rows) else None

        await eventually(ringing_on_a, timeout=30, what="engine-a's calls ringing")
        node_a = floor.telephonies["engine-a"].engine
        killed_at_db = await pool.fetchval("SELECT now()")
        killed_at = time.monotonic()
        outage = asyncio.create_task(node_a.restart(crash=True, down_for=DOWN_FOR))
        try:
            took_after = await held_by(pool, campaign_id, "engine-b", since=killed_at)

            await eventually(lambda: calls_by(pool, "engine-b"), timeout=10, what="engine-b")
            dialled_after = time.monotonic() - killed_at
            # The dead node's calls stay engine-a's: engine-b cannot see them on its node.
            open_a = await pool.fetch(
                "SELECT channel_id, placed_by FROM call_attempts WHERE ended_at IS NULL "
                "AND created_at < $1",
                killed_at_db,
            )
            assert open_a and {r["placed_by"] for r in open_a} == {"engine-a"}
        finally:
            await outage
        back_at = time.monotonic()

        by_a = await eventually(
            all_ended(pool, "engine-a"), timeout=60, what="engine-a settling its lost calls"
        )
        settled_after = time.monotonic() - back_at
        assert not [r for r in by_a if r["created_at"] > killed_at_db], "engine-a dialled on"
        assert await holds(pool, campaign_id, "engine-b")  # engine-a back: it stands by

        for name in ("engine-a", "engine-b"):
            status, body = await floor.apis[name].post("/campaigns/nodes/stop", floor.admin)
            assert status == 200, body
        rows = await floor.settled()
        assert any(r["placed_by"] == "engine-b" for r in rows)
        assert took_after < 10.0, f"engine-b took over {took_after:.1f} s after the kill"
        print(
            f"\nnode A killed with {len(open_a)} calls up: engine-b held the campaign "
            f"{took_after:.1f} s after the kill and dialled on node B {dialled_after:.1f} s "
            f"after it; node A back after {DOWN_FOR:.0f} s, its engine settled its "
            f"{len(open_a)} lost calls {settled_after:.1f} s later; {len(rows)} calls, none twice"
        )
