"""Node links' pure parts: which nodes reach which, the link's dial string and PJSIP objects,
the shared password, and the nodes' SIP addresses in the configuration (no I/O)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.ari.events import parse_event
from pbx_engine.ari.node_links import (
    NODE_LINK,
    NodeLinks,
    _Link,
    link_dial_string,
    link_password,
    node_link_objects,
)
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
