"""Kamailio in front of two Asterisk nodes, with the project's kamailio/kamailio.cfg: a carrier's
calls are spread over both; a node killed costs no call (a call sent to it before anyone knows
is tried on the other at once); the OPTIONS probes take a dead node out of the rotation within
seconds and put it back once it answers again. Real parts throughout: Debian's Kamailio, two
Asterisk instances answering by the phone network's number plan, SIPp as the carrier. `-s`
prints the times."""

from __future__ import annotations

import asyncio
import re
import time
from contextlib import AsyncExitStack

from pbx_engine.lab.sandbox.asterisk import PSTN_HOST, PstnBehaviour, PstnSandbox
from pbx_engine.lab.sandbox.carrier import place_calls
from pbx_engine.lab.sandbox.kamailio import KamailioSandbox, node_uri, sip_options
from tests.waiting import eventually, now

NUMBER = PstnBehaviour.HUMAN.number()  # answered after a second's ringing


async def processed(node: PstnSandbox) -> int:
    """Calls the node has taken since it (re)started (`core show calls`)."""
    found = re.search(r"(\d+) calls? processed", await node.cli("core show calls"))
    return int(found.group(1)) if found else 0


async def test_calls_are_spread_over_the_nodes_and_a_dead_node_costs_no_call(tmp_path):
    async with AsyncExitStack() as stack:
        nodes = [await stack.enter_async_context(PstnSandbox()) for _ in range(2)]
        proxy = await stack.enter_async_context(
            KamailioSandbox([(PSTN_HOST, node.sip_port) for node in nodes])
        )
        uris = [node_uri(PSTN_HOST, node.sip_port) for node in nodes]
        batches = iter(range(100))

        async def calls(count: int) -> None:
            batch = await place_calls(
                proxy.host, proxy.port, NUMBER, calls=count, folder=tmp_path / str(next(batches))
            )
            assert (batch.answered, batch.failed) == (count, 0)

        async def node_dead(node: PstnSandbox) -> bool:
            return not await sip_options(PSTN_HOST, node.sip_port, timeout=0.2)

        await calls(10)
        assert sorted(proxy.dispatched()) == sorted(uris * 5)  # round robin
        assert [await processed(node) for node in nodes] == [5, 5]

        # The second node dies (no hang-up, no goodbye) and calls arrive as soon as it no longer
        # answers, before the proxy's probe could notice: each one sent to it is tried on the
        # first node at once.
        restart = asyncio.create_task(nodes[1].restart(crash=True, down_for=8))
        await eventually(lambda: node_dead(nodes[1]), timeout=5, what="the node dead")
        await calls(6)
        assert proxy.failovers(), "no call met the dead node: the test proves nothing"
        assert set(proxy.failovers()) == {uris[0]}
        assert await processed(nodes[0]) == 5 + 6
        await restart
        back_at = time.monotonic()
        await eventually(
            now(lambda: uris[1] in proxy.nodes_up()), timeout=10, what="the node back in"
        )
        up_after = time.monotonic() - back_at
        await calls(6)
        assert await processed(nodes[1]) == 3  # a restarted node counts from zero

        # The first node dies with no call about: the probes alone take it out.
        downs = proxy.nodes_down().count(uris[0])
        killed_at = time.monotonic()
        restart = asyncio.create_task(nodes[0].restart(crash=True, down_for=6))
        await eventually(
            now(lambda: proxy.nodes_down().count(uris[0]) > downs),
            timeout=10,
            what="the node taken out",
        )
        down_after = time.monotonic() - killed_at
        failovers = len(proxy.failovers())
        await calls(6)
        assert len(proxy.failovers()) == failovers  # none tried on the dead node
        assert await processed(nodes[1]) == 3 + 6
        await restart
        print(
            f"\n10 calls spread 5/5; a node killed with calls arriving: none lost, each sent to "
            f"it tried on the other; back in the rotation {up_after:.1f} s after its restart; "
            f"a node killed with no call about taken out by the probes {down_after:.1f} s "
            f"after the kill"
        )
