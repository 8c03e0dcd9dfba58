"""Which Asterisk node an ARI request goes to, when the engine drives several.

A channel, bridge, playback or recording lives on one node and every request about it must go
there; a new one is made on the node the work in hand belongs to. That is `current_node`: the
node whose event is being handled (tasks started meanwhile inherit it), or the one a caller
chose with `on_node` (an agent's node for his debtor). Work with no node of its own goes to the
node with most room (`pick_node`). Everything here is decided without I/O.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

from pbx_engine.ari.events import Event

# The node whose work this is; None: no node in particular.
current_node: ContextVar[str | None] = ContextVar("asterisk_node", default=None)
# The node a reconnect's callbacks rebuild state for: lists and writes go to it alone (set by
# `only_node`, never inherited by accident: the node in hand says where new things go only).
listing_node: ContextVar[str | None] = ContextVar("asterisk_listing_node", default=None)


@contextlib.contextmanager
def on_node(name: str | None) -> Iterator[None]:
    """New channels and bridges made within go to node `name` (None: wherever there is room);
    tasks created within carry it on."""
    token = current_node.set(name)
    try:
        yield
    finally:
        current_node.reset(token)


@contextlib.contextmanager
def only_node(name: str) -> Iterator[None]:
    """Work on node `name` alone: new things go there, and lists and writes that would go to
    every node go to it only (what a node's reconnect rebuilds)."""
    token = listing_node.set(name)
    try:
        with on_node(name):
            yield
    finally:
        listing_node.reset(token)


Resource = Literal["channel", "bridge", "playback", "recording"]


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes.

    new: a resource made on the node chosen for the work in hand; at: the node of `owner`;
    all: every node (state each node keeps: dynamic config, globals); any: one node answers for
    all (version, the app); union: every node's answer, concatenated (lists).
    `creates` is the resource the request makes, which then lives on the node it went to."""

    kind: Literal["new", "at", "all", "any", "union"]
    owner: tuple[Resource, str] | None = None
    creates: tuple[Resource, str] | None = None


def _made(kind: Resource, name: Any) -> tuple[Resource, str] | None:
    return (kind, str(name)) if name else None


def route_of(method: str, path: str, params: Mapping[str, Any] | None = None) -> Route:
    """The route of an ARI request (`path` below /ari, e.g. /channels/ID/answer)."""
    params = params or {}
    parts = path.strip("/").split("/")
    top, rest = parts[0], parts[1:]
    if top in ("channels", "bridges"):
        kind: Resource = "channel" if top == "channels" else "bridge"
        if not rest:
            if method == "GET":
                return Route("union")
            return Route("new", creates=_made(kind, params.get(f"{kind}Id")))
        if top == "channels" and rest[0] in ("create", "externalMedia"):
            return Route("new", creates=_made("channel", params.get("channelId")))
        owner = (kind, rest[0])
        action = rest[1] if len(rest) > 1 else ""
        if action == "snoop":
            return Route("at", owner, _made("channel", params.get("snoopId")))
        if action == "play":
            played = rest[2] if len(rest) > 2 else params.get("playbackId")
            return Route("at", owner, _made("playback", played))
        if action == "record":
            return Route("at", owner, _made("recording", params.get("name")))
        if method == "POST" and len(rest) == 1 and kind == "channel":
            return Route("new", creates=owner)  # originate with our own channel id
        return Route("at", owner)
    if top == "playbacks" and rest:
        return Route("at", ("playback", rest[0]))
    if top == "recordings" and len(rest) > 1:
        return Route("at", ("recording", rest[1]))
    if top == "applications" and rest[1:2] == ["subscription"]:
        source = str(params.get("eventSource", ""))
        if source.startswith("channel:"):
            return Route("at", ("channel", source.removeprefix("channel:")))
        return Route("all")
    if top == "asterisk" and rest[:1] in (["config"], ["variable"]) and method != "GET":
        return Route("all")
    return Route("any")


class NodeMap:
    """Which node each known channel, bridge, playback and recording lives on: learnt from the
    requests that made them and from the events each node sends."""

    def __init__(self) -> None:
        self._where: dict[tuple[Resource, str], str] = {}

    def place(self, resource: tuple[Resource, str], node: str) -> None:
        self._where[resource] = node

    def node_of(self, resource: tuple[Resource, str]) -> str | None:
        return self._where.get(resource)

    def channels_on(self, node: str) -> int:
        return sum(1 for (kind, _), n in self._where.items() if kind == "channel" and n == node)

    def seen(self, event: Event, node: str) -> None:
        """Note what `event`, sent by `node`, names (before its handlers run)."""
        for resource in _named(event):
            self._where[resource] = node

    def forget(self, resource: tuple[Resource, str]) -> None:
        self._where.pop(resource, None)

    def ended(self, event: Event) -> None:
        """Forget what `event` says is over (after its handlers ran). A finished recording's
        file stays on its node; a request for it then asks each node (kept here, the map would
        grow with every recorded call)."""
        for kind, resource in _ENDED.get(event.type, ()):
            value = getattr(event, resource, None)
            name = getattr(value, "id", None) or getattr(value, "name", None)
            if name:
                self._where.pop((kind, name), None)

    def forget_node(self, node: str) -> None:
        """Node `node` may have restarted: what it had is learnt again."""
        for resource in [r for r, n in self._where.items() if n == node]:
            del self._where[resource]


_ENDED: dict[str, tuple[tuple[Resource, str], ...]] = {
    "ChannelDestroyed": (("channel", "channel"),),
    "BridgeDestroyed": (("bridge", "bridge"),),
    "PlaybackFinished": (("playback", "playback"),),
    "RecordingFinished": (("recording", "recording"),),
    "RecordingFailed": (("recording", "recording"),),
}


def _named(event: Event) -> Iterator[tuple[Resource, str]]:
    for field, kind in (
        ("channel", "channel"),
        ("peer", "channel"),
        ("bridge", "bridge"),
        ("playback", "playback"),
        ("recording", "recording"),
    ):
        value = getattr(event, field, None)
        if value is None:
            continue
        name = getattr(value, "id", None) or getattr(value, "name", None)
        if name:
            yield kind, name  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class NodeRoom:
    """A node as placement sees it."""

    name: str
    up: bool
    channels: int  # in use now, as far as the engine knows
    max_channels: int | None  # None: no cap of its own


def pick_node(nodes: list[NodeRoom]) -> str | None:
    """The node a new call with no node of its own goes to: among those up and under their
    cap, the one whose cap is least used (a node with no cap counts as unused: the cap marks
    the smaller servers), then the one with fewest channels, then the first listed. None when
    none can take it."""
    open_ = [n for n in nodes if n.up and (n.max_channels is None or n.channels < n.max_channels)]
    if not open_:
        return None

    def load(node: NodeRoom) -> tuple[float, int]:
        share = node.channels / node.max_channels if node.max_channels else 0.0
        return share, node.channels

    return min(open_, key=load).name
