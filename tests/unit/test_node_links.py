"""Node links' pure parts: which nodes reach which, the link's dial string and PJSIP objects,
the shared password, the nodes' SIP addresses in the configuration, and which links the nodes
still carry after a restart (no I/O); a link's in leg taken in, and links followed again after a
restart, against a fake node."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.ari.events import Bridge, Channel, parse_event
from pbx_engine.ari.node_links import (
    BROKEN_FOR,
    NODE_LINK,
    FoundLink,
    NodeLinks,
    _Link,
    link_dial_string,
    link_password,
    links_on_the_nodes,
    node_link_objects,
)
from pbx_engine.ari.stream import EventRouter, Subscription
from pbx_engine.config import AriConfig
from tests.waiting import eventually, now

NODES = st.one_of(st.none(), st.sampled_from(["m1", "m2", "m3"]))


def _links(addresses: dict[str, str]) -> NodeLinks:
    return NodeLinks(None, addresses, "pw")  # type: ignore[arg-type]  # reaches() needs no ARI


@given(NODES, NODES)
def test_a_channel_reaches_a_bridge_on_its_own_node_or_on_one_with_an_address(here, there):
    links = _links({"m2": "10.0.0.2:5060"})
    expected = here is None or there is None or here == there or there == "m2"
    assert links.reaches(here, there) is expected


def test_without_addresses_every_node_keeps_to_itself():
    links = _links({})
    assert links.reaches("m1", "m1") and links.reaches(None, "m2")
    assert not links.reaches("m1", "m2")


def test_a_link_dials_the_far_nodes_address_from_the_link_endpoint():
    assert link_dial_string("10.0.0.2:5060", "0123456789abcdef") == (
        "PJSIP/node-link/sip:link-0123456789abcdef@10.0.0.2:5060"
    )


def test_the_link_endpoint_authenticates_both_ways_and_lands_in_its_own_context():
    (auth_kind, auth_id, auth), (kind, endpoint_id, endpoint) = node_link_objects("pw-1")
    assert (auth_kind, auth_id, kind, endpoint_id) == ("auth", NODE_LINK, "endpoint", NODE_LINK)
    assert auth == {"auth_type": "userpass", "username": NODE_LINK, "password": "pw-1"}
    assert endpoint["auth"] == endpoint["outbound_auth"] == NODE_LINK
    assert endpoint["from_user"] == NODE_LINK  # the far node's username identifier finds it
    assert endpoint["context"] == "from-nodes" and endpoint["allow"] == "ulaw"


def test_every_engine_on_the_same_nodes_derives_the_same_link_password():
    password = link_password("s3cret-Engine")
    assert password == link_password("s3cret-Engine") != link_password("another-Secret")
    expected = hmac.new(b"s3cret-Engine", b"pbx-engine node-link", hashlib.sha256).hexdigest()
    assert password == expected and "s3cret" not in password


def _ari(**fields) -> AriConfig:
    return AriConfig(
        url="http://10.0.0.1:8088", username="engine", password="s3cret-Engine", **fields
    )


def test_the_nodes_sip_addresses_are_those_given():
    config = _ari(
        node="m1",
        sip_address="10.0.0.1:5060",
        nodes=[
            {"name": "m2", "url": "http://10.0.0.2:8088", "sip_address": "[fd00::2]:5060"},
            {"name": "m3", "url": "http://10.0.0.3:8088"},
        ],
    )
    assert config.sip_addresses() == {"m1": "10.0.0.1:5060", "m2": "[fd00::2]:5060"}
    assert _ari().sip_addresses() == {}


@pytest.mark.parametrize(
    "address", ["10.0.0.1", "sip:10.0.0.1:5060", "10.0.0.1:5060;transport=tcp", "a b:5060"]
)
def test_a_sip_address_that_is_not_host_and_port_is_refused(address):
    with pytest.raises(ValueError, match="sip_address"):
        _ari(sip_address=address)


class _FarNode:
    def __init__(self) -> None:
        self.done: list[str] = []

    async def hangup(self, channel_id: str, reason: str = "normal") -> bool:
        self.done.append(f"hangup {channel_id} {reason}")
        return True

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        self.done.append(f"bridge {channel_id} into {bridge_id}")

    async def answer(self, channel_id: str) -> None:
        self.done.append(f"answer {channel_id}")


def _arrives(links: NodeLinks, far: _FarNode, link_id: str, steps: int) -> None:
    """A link's in leg arrives; returns once the far node has seen `steps` requests."""
    start = parse_event(
        {
            "type": "StasisStart",
            "application": "pbx-engine",
            "args": [NODE_LINK, link_id],
            "channel": {"id": "in-1", "name": "PJSIP/node-link-00000001", "state": "Ring"},
        }
    )

    async def scenario() -> None:
        links.accept(start)
        await eventually(now(lambda: len(far.done) >= steps), timeout=2, what=f"{steps} steps")
        await links.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("link_id", ["0123456789abcdef", "", "../../etc", "0123456789ABCDEF"])
def test_a_link_the_engine_is_not_waiting_for_is_hung_up(link_id):
    far = _FarNode()
    links = NodeLinks(far, {"m2": "10.0.0.2:5060"}, "pw")  # type: ignore[arg-type]
    _arrives(links, far, link_id, 1)
    assert far.done == ["hangup in-1 rejected"]


def test_a_link_the_engine_waits_for_joins_its_bridge_then_answers():
    far = _FarNode()
    links = NodeLinks(far, {"m2": "10.0.0.2:5060"}, "pw")  # type: ignore[arg-type]
    links._waiting["0123456789abcdef"] = _Link(
        "0123456789abcdef", "caller-1", "agent-olga", "link-x", "link-x-out"
    )
    _arrives(links, far, "0123456789abcdef", 2)
    assert far.done == ["bridge in-1 into agent-olga", "answer in-1"]


LINK = "0123456789abcdef"
OUT = f"link-{LINK}-out"


def _channel(channel_id: str, app: str | None = "pbx-engine", *args: str) -> Channel:
    dialplan = {"app_name": "Stasis", "app_data": ",".join([app, *args])} if app else {}
    return Channel.model_validate({"id": channel_id, "dialplan": dialplan})


def _bridge(bridge_id: str, *channels: str) -> Bridge:
    return Bridge(id=bridge_id, channels=channels)


IN_LEG = _channel("in-1", "pbx-engine", NODE_LINK, LINK)  # on the far node


def test_a_whole_link_is_found_with_its_in_leg_and_the_bridge_it_is_in():
    channels = [_channel("caller-1"), _channel(OUT, "pbx-engine", "node-link-out", LINK), IN_LEG]
    bridges = [_bridge(f"link-{LINK}", "caller-1", OUT), _bridge("b-olga", "agent-olga-1", "in-1")]
    [found] = links_on_the_nodes(channels, bridges, "pbx-engine")
    assert found == FoundLink(LINK, f"link-{LINK}", "caller-1", OUT, "in-1", "b-olga")


def test_what_is_left_of_a_half_gone_link_is_found_to_be_ended():
    channels = [_channel("caller-1"), _channel(OUT), IN_LEG]
    other = "fedcba9876543210"
    bridges = [_bridge(f"link-{LINK}", "caller-1"), _bridge(f"link-{other}", f"link-{other}-out")]
    found = links_on_the_nodes([*channels, _channel(f"link-{other}-out")], bridges, "pbx-engine")
    assert [(f.id, f.channel, f.out_leg) for f in found] == [
        (LINK, "caller-1", None),
        (other, None, f"link-{other}-out"),
    ]


def test_another_engines_links_empty_bridges_and_other_bridges_are_left_out():
    channels = [_channel("caller-1", "engine-b"), _channel(OUT, "engine-b"), _channel("c2")]
    bridges = [
        _bridge(f"link-{LINK}", "caller-1", OUT),  # engine B's (its out leg is in its app)
        _bridge("link-fedcba9876543210"),  # empty: may be a link being made
        _bridge("link-not-a-link-id", "c2"),
        _bridge("agent olga", "c2"),
    ]
    assert links_on_the_nodes(channels, bridges, "pbx-engine") == []
    assert [f.id for f in links_on_the_nodes(channels, bridges, "engine-b")] == [LINK]


class _Nodes:
    """Both nodes as the engine's ARI client sees them after a restart."""

    app = "pbx-engine"

    def __init__(self, channels: list[Channel], bridges: list[Bridge]) -> None:
        self.channels, self.bridges = {c.id: c for c in channels}, bridges
        self.router = EventRouter()
        self.done: list[str] = []
        self.gone: set[str] = set()

    async def list_channels(self) -> list[Channel]:
        return list(self.channels.values())

    async def list_bridges(self) -> list[Bridge]:
        return self.bridges

    def subscribe(self, *channel_ids: str) -> Subscription:
        return Subscription(self.router, channel_ids)

    async def subscribe_app_to_channel(self, channel_id: str) -> bool:
        self.done.append(f"subscribe {channel_id}")
        return channel_id in self.channels

    async def get_channel(self, channel_id: str) -> Channel | None:
        return None if channel_id in self.gone else self.channels.get(channel_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> bool:
        self.done.append(f"hangup {channel_id}")
        return self.channels.pop(channel_id, None) is not None

    async def destroy_bridge(self, bridge_id: str) -> bool:
        self.done.append(f"destroy {bridge_id}")
        return True

    def destroyed(self, channel_id: str) -> None:
        del self.channels[channel_id]
        self.router.route(
            parse_event({"type": "ChannelDestroyed", "cause": 16, "channel": {"id": channel_id}})
        )


def _whole_link() -> _Nodes:
    return _Nodes(
        [_channel("caller-1"), _channel(OUT), IN_LEG],
        [_bridge(f"link-{LINK}", "caller-1", OUT), _bridge("b-olga", "agent-olga-1", "in-1")],
    )


def test_after_a_restart_a_link_is_followed_again_and_the_caller_hanging_up_ends_it():
    nodes = _whole_link()
    links = NodeLinks(nodes, {"m2": "10.0.0.2:5060"}, "pw")  # type: ignore[arg-type]

    async def scenario() -> None:
        assert await links.adopt() == [LINK]
        assert links.carried_by("in-1") == "caller-1"  # the agent's call is the caller's
        assert links.carried_by("caller-2") == "caller-2"
        assert await links.adopt() == []  # followed already
        nodes.destroyed("caller-1")
        await eventually(now(lambda: f"destroy link-{LINK}" in nodes.done), timeout=2)
        await links.close()

    asyncio.run(scenario())
    assert nodes.done == [f"hangup {OUT}", f"destroy link-{LINK}"]
    assert links.carried_by("in-1") == "in-1"


def test_a_dead_engines_links_are_heard_by_this_app_and_the_far_end_going_ends_the_caller():
    nodes = _whole_link()
    nodes.app = "pbx-engine-b"
    links = NodeLinks(nodes, {"m2": "10.0.0.2:5060"}, "pw")  # type: ignore[arg-type]

    async def scenario() -> None:
        assert await links.adopt(from_app="pbx-engine") == [LINK]
        nodes.destroyed(OUT)
        await eventually(now(lambda: f"destroy link-{LINK}" in nodes.done), timeout=2)
        await links.close()

    asyncio.run(scenario())
    assert nodes.done == [
        "subscribe caller-1",
        f"subscribe {OUT}",
        "subscribe in-1",
        "hangup caller-1",
        f"destroy link-{LINK}",
    ]


def test_a_link_found_half_gone_is_ended_at_once():
    nodes = _Nodes(
        [_channel("caller-1"), _channel(OUT)],
        [_bridge(f"link-{LINK}", "caller-1", OUT)],
    )
    nodes.gone.add(OUT)  # hung up between the listing and the look
    links = NodeLinks(nodes, {"m2": "10.0.0.2:5060"}, "pw")  # type: ignore[arg-type]

    async def scenario() -> None:
        assert await links.adopt() == []
        await links.close()

    asyncio.run(scenario())
    assert nodes.done == ["hangup caller-1", f"destroy link-{LINK}"]


def test_without_addresses_nothing_is_looked_for():
    links = NodeLinks(None, {}, "pw")  # type: ignore[arg-type]
    assert asyncio.run(links.adopt()) == []


def test_a_link_that_failed_is_not_tried_again_for_a_while_from_that_node_only():
    clock = [1000.0]
    links = NodeLinks(
        None,  # type: ignore[arg-type]  # reaches() and broke() ask nothing of the nodes
        {"m2": "10.0.0.2:5060"},
        "pw",
        clock=lambda: clock[0],
    )
    links.broke("m1", "m2")
    assert not links.reaches("m1", "m2")
    assert links.reaches("m3", "m2") and links.reaches("m2", "m2")  # other nodes, same node
    clock[0] += BROKEN_FOR - 0.1
    assert not links.reaches("m1", "m2")
    clock[0] += 0.1
    assert links.reaches("m1", "m2")
