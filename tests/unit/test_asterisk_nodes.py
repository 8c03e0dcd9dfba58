"""Which Asterisk node a request goes to, and where new calls are placed (no I/O)."""

from __future__ import annotations

import pytest

from pbx_engine.ari.events import parse_event
from pbx_engine.ari.nodes import (
    NodeMap,
    NodeRoom,
    Route,
    current_node,
    listing_node,
    on_node,
    only_node,
    pick_node,
    route_of,
)
from pbx_engine.config import AriConfig, MediaNode

ROUTES = [
    ("POST", "/channels/create", {"channelId": "out-1"}, Route("new", None, ("channel", "out-1"))),
    ("POST", "/channels", {"channelId": "agent-7"}, Route("new", None, ("channel", "agent-7"))),
    ("POST", "/channels", {}, Route("new")),
    ("POST", "/channels/out-1", {}, Route("new", None, ("channel", "out-1"))),
    (
        "POST",
        "/channels/externalMedia",
        {"channelId": "m-1"},
        Route("new", None, ("channel", "m-1")),
    ),
    ("POST", "/bridges", {"bridgeId": "b-1"}, Route("new", None, ("bridge", "b-1"))),
    ("GET", "/channels", {}, Route("union")),
    ("GET", "/bridges", {}, Route("union")),
    ("POST", "/channels/c/answer", {}, Route("at", ("channel", "c"))),
    ("DELETE", "/channels/c", {"reason": "normal"}, Route("at", ("channel", "c"))),
    ("GET", "/channels/c", {}, Route("at", ("channel", "c"))),
    ("POST", "/channels/c/dial", {}, Route("at", ("channel", "c"))),
    (
        "POST",
        "/channels/c/snoop",
        {"snoopId": "s"},
        Route("at", ("channel", "c"), ("channel", "s")),
    ),
    ("POST", "/channels/c/play", {"media": "x"}, Route("at", ("channel", "c"))),
    ("POST", "/channels/c/play/p", {}, Route("at", ("channel", "c"), ("playback", "p"))),
    (
        "POST",
        "/channels/c/record",
        {"name": "r"},
        Route("at", ("channel", "c"), ("recording", "r")),
    ),
    ("POST", "/bridges/b/addChannel", {}, Route("at", ("bridge", "b"))),
    ("DELETE", "/bridges/b", {}, Route("at", ("bridge", "b"))),
    (
        "POST",
        "/bridges/b/play",
        {"playbackId": "p"},
        Route("at", ("bridge", "b"), ("playback", "p")),
    ),
    ("POST", "/bridges/b/record", {"name": "r"}, Route("at", ("bridge", "b"), ("recording", "r"))),
    ("DELETE", "/playbacks/p", {}, Route("at", ("playback", "p"))),
    ("POST", "/recordings/live/r/stop", {}, Route("at", ("recording", "r"))),
    ("GET", "/recordings/stored/r/file", {}, Route("at", ("recording", "r"))),
    ("PUT", "/asterisk/config/dynamic/res_pjsip/endpoint/a1", {}, Route("all")),
    ("DELETE", "/asterisk/config/dynamic/res_pjsip/aor/a1", {}, Route("all")),
    ("GET", "/asterisk/config/dynamic/res_pjsip/endpoint/a1", {}, Route("any")),
    ("POST", "/asterisk/variable", {"variable": "V"}, Route("all")),
    ("GET", "/asterisk/variable", {"variable": "V"}, Route("any")),
    ("GET", "/asterisk/info", {}, Route("any")),
    ("GET", "/applications/pbx-engine", {}, Route("any")),
    (
        "POST",
        "/applications/pbx-engine/subscription",
        {"eventSource": "channel:c"},
        Route("at", ("channel", "c")),
    ),
]


@pytest.mark.parametrize(("method", "path", "params", "route"), ROUTES)
def test_every_request_the_client_makes_has_its_node(method, path, params, route):
    assert route_of(method, path, params) == route


def _event(kind: str, **fields) -> object:
    import json

    return parse_event(json.dumps({"type": kind, "application": "pbx-engine", **fields}))


def test_the_map_learns_from_events_and_forgets_what_ended():
    nodes = NodeMap()
    nodes.seen(_event("StasisStart", channel={"id": "in-1"}), "b")
    nodes.seen(_event("BridgeCreated", bridge={"id": "br-1"}), "b")
    assert nodes.node_of(("channel", "in-1")) == "b"
    assert nodes.node_of(("bridge", "br-1")) == "b"
    assert nodes.channels_on("b") == 1 and nodes.channels_on("a") == 0
    ended = _event("ChannelDestroyed", channel={"id": "in-1"}, cause=16)
    nodes.seen(ended, "b")
    assert nodes.node_of(("channel", "in-1")) == "b"  # its handlers still ask about it
    nodes.ended(ended)
    assert nodes.node_of(("channel", "in-1")) is None
    nodes.ended(_event("BridgeDestroyed", bridge={"id": "br-1"}))
    assert nodes.node_of(("bridge", "br-1")) is None


def test_a_node_that_may_have_restarted_is_learnt_again():
    nodes = NodeMap()
    nodes.place(("channel", "c"), "a")
    nodes.place(("recording", "r"), "a")
    nodes.place(("channel", "d"), "b")
    nodes.forget_node("a")
    assert nodes.node_of(("channel", "c")) is None
    assert nodes.node_of(("recording", "r")) is None
    assert nodes.node_of(("channel", "d")) == "b"


def test_finished_playbacks_and_recordings_are_forgotten():
    nodes = NodeMap()
    for kind, field, value in (
        ("PlaybackStarted", "playback", {"id": "p"}),
        ("RecordingStarted", "recording", {"name": "r"}),
    ):
        nodes.seen(_event(kind, **{field: value}), "a")
    assert nodes.node_of(("playback", "p")) == nodes.node_of(("recording", "r")) == "a"
    nodes.ended(_event("PlaybackFinished", playback={"id": "p"}))
    nodes.ended(_event("RecordingFinished", recording={"name": "r"}))
    assert nodes.node_of(("playback", "p")) is None
    assert nodes.node_of(("recording", "r")) is None


def test_work_started_on_a_node_carries_it_on():
    assert current_node.get() is None
    with on_node("b"):
        assert current_node.get() == "b"
        with on_node(None):
            assert current_node.get() is None
        assert current_node.get() == "b"
    assert current_node.get() is None


def test_only_a_reconnect_scope_narrows_lists_and_writes_to_one_node():
    with on_node("b"):
        assert listing_node.get() is None  # a node in hand says where new things go, only
    with only_node("b"):
        assert (current_node.get(), listing_node.get()) == ("b", "b")
    assert (current_node.get(), listing_node.get()) == (None, None)


def test_a_new_call_goes_where_there_is_most_room():
    rooms = [NodeRoom("a", True, 10, None), NodeRoom("b", True, 4, None)]
    assert pick_node(rooms) == "b"
    assert pick_node([NodeRoom("a", True, 4, None), NodeRoom("b", True, 4, None)]) == "a"


def test_a_node_down_or_full_takes_no_call():
    assert pick_node([NodeRoom("a", False, 0, None), NodeRoom("b", True, 9, None)]) == "b"
    assert pick_node([NodeRoom("a", True, 10, 10), NodeRoom("b", True, 50, None)]) == "b"
    assert pick_node([NodeRoom("a", False, 0, None), NodeRoom("b", True, 5, 5)]) is None
    assert pick_node([]) is None


def test_caps_compare_by_the_share_in_use():
    # 30 of 100 is less used than 10 of 20.
    assert pick_node([NodeRoom("small", True, 10, 20), NodeRoom("big", True, 30, 100)]) == "big"


def _ari(**fields) -> AriConfig:
    return AriConfig(
        url="http://10.0.0.1:8088", username="engine", password="s3cret-Engine", **fields
    )


def test_nodes_in_the_configuration():
    config = _ari(node="m1", nodes=[{"name": "m2", "url": "http://10.0.0.2:8088"}])
    assert config.nodes == (MediaNode(name="m2", url="http://10.0.0.2:8088"),)


@pytest.mark.parametrize(
    "nodes",
    [
        [{"name": "asterisk", "url": "http://10.0.0.2:8088"}],
        [{"name": "m2", "url": "http://10.0.0.1:8088"}],
        [{"name": "m 2", "url": "http://10.0.0.2:8088"}],
        [{"name": "m2", "url": "http://10.0.0.2:8088", "max_channels": 0}],
        [{"name": "m2", "url": "http://10.0.0.2:8088", "typo": 1}],
    ],
)
def test_a_node_list_that_cannot_be_used_is_refused(nodes):
    with pytest.raises(ValueError):
        _ari(nodes=nodes)
