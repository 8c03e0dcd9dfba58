"""Calls across Asterisk nodes: a channel on one node put into a bridge on another.

A bridge joins one node's channels only. When a caller reaches node A and the agent who should
take him is in his bridge on node B, the engine links them: on A the caller goes into a small
bridge of his own with a SIP call to B (the link's out leg, from A's `node-link` endpoint), and
on B that call (the in leg) enters our app as `Stasis(app,node-link,ID)` and is put into the
agent's bridge. Media then runs caller - A - B - agent on the centre's private network.

Why a link rather than moving the caller with a SIP transfer (REFER or a 302 through Kamailio):
the carrier, the caller's phone and Kamailio need to support nothing; the caller's channel, with
its recording, its menu and the engine's hold on it, stays where it is; and a link can be undone
(the caller handed over to an agent on his own node) like any bridge move. The price: one extra
channel on each node and one more hop of RTP for the call's length.

The nodes authenticate each other with a PJSIP endpoint the engine pushes to every node
(`node-link`, digest with a password derived from the ARI password every node shares), and B
takes in only a link id the engine is waiting for: a stranger's INVITE is hung up.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from pbx_engine.ari.calls import NotAnswered, ring_into_app
from pbx_engine.ari.client import AriClient
from pbx_engine.ari.errors import AriError, AriUnavailable, ChannelGone
from pbx_engine.ari.events import Bridge, Channel, ChannelDestroyed, StasisEnd, StasisStart
from pbx_engine.ari.nodes import on_node
from pbx_engine.ari.router import stasis_arg
from pbx_engine.ari.stream import Subscription
from pbx_engine.tasks import OwnedTasks

log = structlog.get_logger(__name__)

NODE_LINK = "node-link"  # the PJSIP endpoint and auth on every node, and the Stasis argument
LINK_OUT = "node-link-out"  # the Stasis argument of a link's out leg once it is answered
PJSIP = "res_pjsip"
_LINK_ID = re.compile(r"[0-9a-f]{16}")
_LINK_BRIDGE = re.compile(r"link-([0-9a-f]{16})")  # a link's near bridge
# The far node answers a link as soon as its engine hears it: one that has not in this long
# will not (a caller waits through it).
LINK_ANSWER_TIMEOUT = 5.0
# A link from one node to another that failed is not tried again for this long: callers there
# go to agents the engine can reach rather than each waiting for the same failure.
BROKEN_FOR = 60.0


class LinkFailed(AriError):
    """The link to the other node could not be made (it did not answer, or refused)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "LINK", "node-link", message)


def link_password(ari_password: str) -> str:
    """The nodes' shared secret for links: the same on every engine that drives them (they
    share the ARI password), and telling nothing of that password."""
    return hmac.new(ari_password.encode(), b"pbx-engine node-link", hashlib.sha256).hexdigest()


def node_link_objects(password: str) -> list[tuple[str, str, dict[str, str]]]:
    """The auth and endpoint every node has for links, as (kind, id, fields): calls out to
    another node authenticate with it, calls in from one are challenged against it."""
    endpoint = {
        "transport": "transport-udp",
        "context": "from-nodes",  # dialplans/engine.conf: only `link-ID`, into the engine
        "disallow": "all",
        "allow": "ulaw",
        "auth": NODE_LINK,
        "outbound_auth": NODE_LINK,
        "from_user": NODE_LINK,  # how the far node's `username` identifier finds this endpoint
        "direct_media": "no",
        "rtp_symmetric": "no",  # nodes reach each other directly: no NAT to learn
    }
    auth = {"auth_type": "userpass", "username": NODE_LINK, "password": password}
    return [("auth", NODE_LINK, auth), ("endpoint", NODE_LINK, endpoint)]


def link_dial_string(address: str, link_id: str) -> str:
    """The out leg: the other node's SIP address (host:port), the link's id as the user part."""
    return f"PJSIP/{NODE_LINK}/sip:link-{link_id}@{address}"


@dataclass
class _Link:
    id: str
    channel: str  # the caller (or whoever is linked), on the near node
    target: str  # the bridge on the far node
    bridge: str  # the near node's bridge holding the channel and the out leg
    out_leg: str
    in_leg: str | None = None
    parting: bool = False  # undone by the engine: the channel stays up
    events: Subscription | None = field(default=None, repr=False)


@dataclass(frozen=True)
class FoundLink:
    """A link the nodes still carry, as listed after the engine restarted (or took over from
    a dead engine): what is left of it."""

    id: str
    bridge: str  # its near bridge
    channel: str | None  # the linked channel (the caller), if still in the near bridge
    out_leg: str | None  # if still in the near bridge
    in_leg: str | None  # on the far node, if seen there
    target: str | None  # the far bridge the in leg is in


def links_on_the_nodes(channels: list[Channel], bridges: list[Bridge], app: str) -> list[FoundLink]:
    """The links of ARI app `app` in these lists (every node's): each near bridge `link-ID`
    whose out leg (or, that gone, whose linked channel) is in `app`. A near bridge with no
    listed channel is left out: it may be a link being made this moment."""
    apps = {c.id: c.dialplan.stasis_app() for c in channels}
    in_legs = {}
    for channel in channels:
        args = channel.dialplan.app_data.split(",")
        if apps[channel.id] == app and args[1:2] == [NODE_LINK] and len(args) > 2:
            in_legs[args[2]] = channel.id
    bridge_of = {c: b.id for b in bridges for c in b.channels}
    found = []
    for bridge in bridges:
        match = _LINK_BRIDGE.fullmatch(bridge.id)
        if match is None or not bridge.channels:
            continue
        link_id = match[1]
        out_leg = f"link-{link_id}-out"
        if out_leg not in bridge.channels or out_leg not in apps:
            out_leg = None  # hung up
        linked = [c for c in bridge.channels if c != out_leg and c in apps]
        owner = out_leg or (linked[0] if linked else None)
        if owner is None or apps[owner] != app:
            continue  # another engine's link, or nothing left of it that is listed
        in_leg = in_legs.get(link_id)
        found.append(
            FoundLink(
                link_id,
                bridge.id,
                linked[0] if linked else None,
                out_leg,
                in_leg,
                bridge_of.get(in_leg) if in_leg else None,
            )
        )
    return found


class NodeLinks:
    """Puts channels into bridges on any node; links across nodes where it must.

    `addresses`: each node's SIP address (host:port) the other nodes call for a link; a node
    without one takes no link (calls into its bridges stay on it). A link that failed is not
    tried again for `BROKEN_FOR` seconds (`clock` says when)."""

    def __init__(
        self,
        ari: AriClient,
        addresses: dict[str, str],
        password: str,
        *,
        answer_timeout: float = LINK_ANSWER_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ari = ari
        self._addresses = dict(addresses)
        self._password = password
        self._answer_timeout = answer_timeout
        self._clock = clock
        self._waiting: dict[str, _Link] = {}  # link id -> the link its in leg will join
        self._of_channel: dict[str, _Link] = {}  # linked channel -> its link
        self._broken: dict[tuple[str, str], float] = {}  # (near, far) -> not tried until
        self._tasks = OwnedTasks()

    async def close(self) -> None:
        await self._tasks.close()

    def reaches(self, channel_node: str | None, bridge_node: str | None) -> bool:
        """Whether a channel on `channel_node` can be put into a bridge on `bridge_node`
        (None: the engine drives one node, or the node is not known yet)."""
        if channel_node is None or bridge_node is None or channel_node == bridge_node:
            return True
        if bridge_node not in self._addresses:
            return False
        return self._broken.get((channel_node, bridge_node), 0.0) <= self._clock()

    def broke(self, near: str, far: str) -> None:
        """A link from `near` to `far` failed: not tried again for a while."""
        self._broken[(near, far)] = self._clock() + BROKEN_FOR
        log.warning("node_link.broken", near=near, far=far, for_s=BROKEN_FOR)

    async def push(self) -> None:
        """The link endpoint onto the nodes (all of them; the one reconnecting within
        `only_node`). Only where links are configured."""
        if not self._addresses:
            return
        try:
            for kind, object_id, fields in node_link_objects(self._password):
                await self._ari.put_config_object(PJSIP, kind, object_id, fields)
        except (AriError, AriUnavailable) as error:
            log.warning("node_link.not_pushed", error=str(error))

    async def join(self, bridge_id: str, channel_id: str) -> None:
        """Put the channel into the bridge, wherever each is (a link of the channel's made
        before is undone first). ChannelGone: the channel hung up meanwhile; LinkFailed: the
        other node would not take the link."""
        await self.part(channel_id)
        if not self._addresses:  # no node takes links: every bridge is the channel's node's
            await self._ari.add_channel(bridge_id, channel_id)
            return
        here = self._ari.node_of_channel(channel_id)
        there = self._ari.node_of_bridge(bridge_id)
        if here is None or there is None or here == there:
            await self._ari.add_channel(bridge_id, channel_id)
            return
        address = self._addresses.get(there)
        if address is None:
            raise LinkFailed(f"node {there!r} has no [ari] sip_address: calls cannot reach it")
        await self._link(here, there, address, bridge_id, channel_id)

    async def leave(self, bridge_id: str, channel_id: str) -> None:
        """Take the channel out of the bridge (out of its link, if it came through one)."""
        if not await self.part(channel_id):
            await self._ari.remove_channel(bridge_id, channel_id)

    async def part(self, channel_id: str) -> bool:
        """Undo the channel's link, if it has one (the channel stays up, in no bridge until it
        is put somewhere); whether it had one."""
        link = self._of_channel.pop(channel_id, None)
        if link is None:
            return False
        link.parting = True
        await self._ari.hangup(link.out_leg)
        # Out of the near bridge too, so it can be put elsewhere before that bridge goes.
        with contextlib.suppress(AriError, AriUnavailable):
            await self._ari.remove_channel(link.bridge, channel_id)
        return True

    async def _link(
        self, here: str, there: str, address: str, bridge_id: str, channel_id: str
    ) -> None:
        link_id = uuid.uuid4().hex[:16]
        link = _Link(link_id, channel_id, bridge_id, f"link-{link_id}", f"link-{link_id}-out")
        events = self._ari.subscribe(channel_id, link.out_leg)
        self._waiting[link_id] = link
        try:
            with on_node(here):
                await self._ari.create_bridge(bridge_id=link.bridge)
                await ring_into_app(
                    self._ari,
                    link_dial_string(address, link_id),
                    channel_id=link.out_leg,
                    events=events,
                    app_args=[LINK_OUT, link_id],
                    timeout=self._answer_timeout,
                )
                await self._ari.add_channel(link.bridge, [channel_id, link.out_leg])
        except (NotAnswered, AriError, TimeoutError) as error:
            events.close()
            await self._ari.hangup(link.out_leg)
            await self._ari.destroy_bridge(link.bridge)
            if await self._ari.get_channel(channel_id) is None:
                raise ChannelGone(404, "LINK", channel_id, "hung up while being linked") from None
            self.broke(here, there)
            raise LinkFailed(f"the link to {address} failed: {error or 'no answer'}") from None
        finally:
            self._waiting.pop(link_id, None)
        self._broken.pop((here, there), None)
        link.events = events
        self._of_channel[channel_id] = link
        log.info("node_link.up", link=link_id, channel_id=channel_id, bridge_id=bridge_id)
        self._tasks.spawn(self._watch(link))

    async def _watch(self, link: _Link) -> None:
        """The link lasts as long as both its ends: the caller hanging up ends the out leg (and
        so the in leg on the far node); the far end going ends the caller's call, unless the
        engine undid the link to put him elsewhere."""
        assert link.events is not None
        ends = (link.channel, link.out_leg)
        with link.events as events:
            gone = await _first_gone(events, ends)
        await self._end(link, gone)

    async def _end(self, link: _Link, gone: str) -> None:
        """One end of the link (`gone`) is gone: so goes the other, and the near bridge."""
        if self._of_channel.get(link.channel) is link:
            del self._of_channel[link.channel]
        try:
            if gone == link.channel:
                await self._ari.hangup(link.out_leg)
            elif not link.parting:
                log.warning("node_link.far_end_gone", link=link.id, channel_id=link.channel)
                await self._ari.hangup(link.channel)
            await self._ari.destroy_bridge(link.bridge)
        except (AriError, AriUnavailable) as error:  # the near node is away: so are its legs
            log.warning("node_link.not_cleared", link=link.id, error=str(error))
        log.info("node_link.down", link=link.id, ended_by=gone)

    def carried_by(self, channel_id: str) -> str:
        """The channel a link's in leg carries into its bridge (the caller on the other
        node); any other channel is itself."""
        for link in self._of_channel.values():
            if link.in_leg == channel_id:
                return link.channel
        return channel_id

    async def adopt(self, from_app: str | None = None) -> list[str]:
        """After the engine restarted: the links its last run made that the nodes still carry
        are followed again (either end hanging up ends the other), and a link half gone is
        ended. With `from_app`, a dead engine's links, heard by this app from now on. Before
        the agents are adopted: an agent's call that came over a link is its caller's.
        Returns the ids of the links followed."""
        if not self._addresses:
            return []
        channels, bridges = await self._ari.list_channels(), await self._ari.list_bridges()
        known = {link.id for link in self._of_channel.values()} | set(self._waiting)
        followed = []
        for found in links_on_the_nodes(channels, bridges, from_app or self._ari.app):
            if found.id not in known:
                with contextlib.suppress(AriError, AriUnavailable):
                    if await self._follow_again(found, from_app is not None):
                        followed.append(found.id)
        if followed:
            log.info("node_link.adopted", links=followed, from_app=from_app)
        return followed

    async def _follow_again(self, found: FoundLink, taken_over: bool) -> bool:
        link = _Link(
            found.id,
            found.channel or "",
            found.target or "",
            found.bridge,
            f"link-{found.id}-out",
            found.in_leg,
        )
        events = self._ari.subscribe(link.channel, link.out_leg)
        ends = [c for c in (found.channel, found.out_leg, found.in_leg) if c]
        try:
            for channel in ends if taken_over else ():
                await self._ari.subscribe_app_to_channel(channel)
            # Asked after subscribing, so an end between the listing and now is not missed
            # (the asking also tells the engine which node each is on).
            up = {c for c in ends if await self._ari.get_channel(c) is not None}
        except BaseException:
            events.close()
            raise
        if link.channel in up and link.out_leg in up:
            link.events = events
            self._of_channel[link.channel] = link
            self._tasks.spawn(self._watch(link))
            return True
        events.close()
        log.warning("node_link.found_half_gone", link=link.id, channel_id=link.channel)
        await self._end(link, link.out_leg if link.channel in up else link.channel)
        return False

    def accept(self, start: StasisStart) -> None:
        """For the Stasis router: a link's in leg arriving on the far node."""
        self._tasks.spawn(self._take_in(start))

    async def _take_in(self, start: StasisStart) -> None:
        link_id, channel = stasis_arg(start, 1), start.channel.id
        link = self._waiting.get(link_id) if _LINK_ID.fullmatch(link_id) else None
        if link is None:
            log.warning("node_link.unknown", link=link_id, channel_id=channel)
            await self._ari.hangup(channel, reason="rejected")
            return
        try:
            await self._ari.add_channel(link.target, channel)
            await self._ari.answer(channel)
        except AriError as error:
            log.warning("node_link.not_taken_in", link=link_id, error=str(error))
            await self._ari.hangup(channel)
            return
        link.in_leg = channel


async def _first_gone(events: Subscription, channel_ids: tuple[str, ...]) -> str:
    """The first of `channel_ids` to hang up or leave our app."""
    async for event in events:
        if isinstance(event, (ChannelDestroyed, StasisEnd)) and event.channel.id in channel_ids:
            return event.channel.id
    raise AssertionError("a subscription never ends")  # pragma: no cover
