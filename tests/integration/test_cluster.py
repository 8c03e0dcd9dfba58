"""The cluster: two engines (`pbx-engine run`) on one PostgreSQL, both driving the same two
Asterisk media nodes, every agent's softphone registered through Kamailio in front of them
(which puts each on a node). Engine A dials the campaign with its agents, each call on its
agent's node; it is SIGKILLed with a debtor talking and a line ringing. Engine B holds the
campaign within 10 s, sees A's beat stand still on the nodes, takes over its calls on whichever
node carries them (the conversation goes on and is written down when the debtor hangs up) and
A's agents (their phones still in their bridges), and dials the cases A had not.
No case twice; the invariant checker passes on both nodes. `-s` prints the times."""

from __future__ import annotations

from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from tests.integration.engines import b_dials_on, kill_a_mid_call, placed, two_engines
from tests.waiting import eventually

TALKING = PstnBehaviour.TALK.number("+1202555700")
RINGING = PstnBehaviour.NO_ANSWER.number("+1202555701")
OTHERS = [PstnBehaviour.NO_ANSWER.number(f"+1202555{720 + i:03d}") for i in range(6)]


async def test_an_engine_killed_in_the_cluster_leaves_its_calls_on_both_nodes_to_the_other(
    tmp_path,
):
    numbers = [TALKING, RINGING, *OTHERS]
    async with two_engines(
        tmp_path, numbers, campaign="cluster", ring_timeout=20, cluster=True
    ) as floor:
        killed = await kill_a_mid_call(floor, TALKING, RINGING)
        talking, ringing = killed.talking, killed.ringing
        assert {talking["node"], ringing["node"]} <= {"m1", "m2"}
        node, watch = floor.nodes[talking["node"]]
        assert talking["channel_id"] in watch.up, "the conversation was cut"
        assert await node.engine.hangup(talking["channel_id"])  # the debtor hangs up

        async def both_ended():
            rows = {r["dialled"]: r for r in await placed(floor.pool)}
            ended = all(rows[n]["ended_at"] for n in (TALKING, RINGING))
            return rows if ended else None

        rows = await eventually(both_ended, timeout=40, what="the two calls' ends")
        assert (rows[TALKING]["outcome"], rows[RINGING]["outcome"]) == ("human", "no_answer")
        mine, settled = await b_dials_on(floor, "cluster", OTHERS, killed.took_after)
        print(
            f"\nengine-a killed with a conversation on {talking['node']} and a line ringing on "
            f"{ringing['node']}: engine-b held the campaign {killed.took_after:.1f} s after the "
            f"kill, had both calls {killed.calls_after:.1f} s after it, and dialled on on "
            f"{sorted({r['node'] for r in mine})}; {len(settled)} calls, none twice"
        )
