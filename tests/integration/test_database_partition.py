"""Two engines on one database and one PBX, and the first engine's link to the database cut for
30 s in the middle of a campaign: a real partition (PostgreSQL in a network namespace, the first
engine's path to it taken down, its packets dropped without a word, nothing refused).

The cut engine places no call after the cut (the PBX, watched from outside, sees none); the
second engine, standing by, takes the campaign over within 10 s and dials the cases the first
did not, and leaves the first one's calls to it (its beat on the PBX goes on); no case is
dialled twice or against its retry rules; once the link is back the first engine writes down
how the calls it had up ended (nothing lost), finds its lease taken and stands by; the
invariant checker passes. `-s` prints the times."""

from __future__ import annotations

import asyncio
import time

from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from tests.integration.engines import all_ended, calls_by, held_by, holds, placed, two_engines
from tests.waiting import eventually

CASES = 40  # more than both engines can dial in the test: the campaign never runs dry
CUT_SECONDS = 30.0


def number_of(index: int) -> str:
    return PstnBehaviour.NO_ANSWER.number(f"+1202555{300 + index:03d}")


async def test_an_engine_cut_off_from_the_database_stops_dialling_and_another_takes_over(
    tmp_path,
):
    numbers = [number_of(i) for i in range(CASES)]
    async with two_engines(tmp_path, numbers, campaign="partition", ring_timeout=4) as floor:
        pool, campaign_id, watch = floor.pool, floor.campaign_id, floor.watch

        async def calls_by_a():
            rows = await placed(pool)
            return rows if sum(r["placed_by"] == "engine-a" for r in rows) >= 3 else None

        before = await eventually(calls_by_a, timeout=40, what="engine-a dialling")
        assert await holds(pool, campaign_id, "engine-a")
        assert {r["placed_by"] for r in before} == {"engine-a"}, before

        cut_at_db = await pool.fetchval("SELECT now()")
        await floor.a_link.cut()
        cut_at = time.monotonic()
        took_after = await held_by(pool, campaign_id, "engine-b", since=cut_at)

        await eventually(lambda: calls_by(pool, "engine-b"), timeout=10, what="engine-b's call")
        dialled_after = time.monotonic() - cut_at
        await asyncio.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - cut_at)))
        await floor.a_link.restore()
        restored_at = time.monotonic()

        by_a = await eventually(
            all_ended(pool, "engine-a"), timeout=60, what="engine-a's calls written down"
        )
        flushed_after = time.monotonic() - restored_at
        # engine-a stands by: its first renewal after the link came back is refused, and the
        # lease stays engine-b's.
        await eventually(
            floor.logged("engine-a", "campaign.lease_lost"), timeout=15, what="engine-a refused"
        )
        assert await holds(pool, campaign_id, "engine-b")

        # Stopped on the standby first, so that it does not take the lease the other lets go.
        for name in ("engine-a", "engine-b"):
            status, body = await floor.apis[name].post("/campaigns/partition/stop", floor.admin)
            assert status == 200, body

        rows = await floor.settled()

        # Nothing placed by engine-a after the cut: on record, and on the PBX.
        late = [r for r in by_a if r["created_at"] > cut_at_db]
        assert not late, f"engine-a placed calls after the cut: {late}"
        seen_late = [
            r["channel_id"]
            for r in by_a
            if watch.first_seen.get(r["channel_id"], 0.0) > cut_at + 1.0
        ]
        assert not seen_late, f"engine-a's calls seen up after the cut: {seen_late}"
        # engine-a's calls stayed its own: engine-b saw its beat and left them to it.
        assert {r["channel_id"] for r in before} <= {r["channel_id"] for r in by_a}
        assert all(r["outcome"] == "no_answer" for r in rows), rows
        assert any(r["placed_by"] == "engine-b" for r in rows)
        assert took_after < 10.0, f"engine-b took over {took_after:.1f} s after the cut"
        print(
            f"\ncut for {CUT_SECONDS:.0f} s with {len(before)} calls placed by engine-a: "
            f"engine-b held the campaign {took_after:.1f} s after the cut and dialled "
            f"{dialled_after:.1f} s after it; engine-a's {len(by_a)} calls written down "
            f"{flushed_after:.1f} s after the link came back; {len(rows)} calls, none twice"
        )
