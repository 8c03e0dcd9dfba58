"""Which Asterisk node a debtor is dialled from, when the engine drives several.

A bridge joins channels of one node, so a debtor can only be put through to an agent whose
leg is on the node that dialled him. A call with an agent held for it goes to that agent's
node. A predictive call is placed before anyone knows which agent will take it: it goes to the
node whose staffed agents have the fewest calls already out for them, so that each node dials
for its own share of the floor. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def node_for_debtor(
    staffed: Mapping[str, int], calls_out: Mapping[str, int], up: Iterable[str]
) -> str | None:
    """The node for a predictive call: among nodes up with agents staffed there (ready, on a
    call or writing one up: all of them take the calls being dialled now), the one with the
    fewest calls out per staffed agent; ties to the first of `up`. None when no node up has
    an agent (agents rung per call live on no node): the node with most room takes it."""
    best: tuple[float, str] | None = None
    for node in up:
        agents = staffed.get(node, 0)
        if agents <= 0:
            continue
        load = calls_out.get(node, 0) / agents
        if best is None or load < best[0]:
            best = (load, node)
    return best[1] if best else None
