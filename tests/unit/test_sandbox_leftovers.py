"""What a test left in the shared sandboxes: the pure comparison with the world at rest."""

from pbx_engine.lab.sandbox.leftovers import (
    Leftovers,
    SeenBridge,
    SeenChannel,
    Sighting,
    leftovers,
)

AT_REST = Sighting(
    agents={"anna": "logged_out", "tina": "logged_out"},
    campaigns={"old": "stopped"},
    channels={"engine": [], "pstn": []},
    bridges={"engine": [], "pstn": []},
)


def test_given_everything_at_rest_then_nothing_is_left():
    found = leftovers(AT_REST)
    assert not found
    assert found == Leftovers()
    assert found.lines() == []


def test_given_nothing_looked_at_then_nothing_is_left():
    assert not leftovers(Sighting())


def test_given_busy_agents_and_a_live_campaign_then_each_is_named_with_its_state():
    seen = Sighting(
        agents={"tina": "wrap_up", "anna": "ready", "olga": "logged_out"},
        campaigns={"old": "stopped", "live": "running", "held": "paused"},
    )
    found = leftovers(seen)
    assert found
    assert found.agents == {"tina": "wrap_up", "anna": "ready"}
    assert found.campaigns == {"live": "running", "held": "paused"}
    assert found.lines() == [
        "agent anna ready",
        "agent tina wrap_up",
        "campaign held paused",
        "campaign live running",
    ]


def test_given_channels_and_bridges_up_then_each_asterisk_names_its_own():
    leg = SeenChannel.from_ari(
        {"id": "1733.4", "name": "PJSIP/agent-001-00000004", "state": "Up", "caller": {}}
    )
    bridge = SeenBridge.from_ari(
        {"id": "agent-anna", "bridge_type": "mixing", "channels": ["1733.4"], "technology": "x"}
    )
    ringing = SeenChannel.from_ari({"id": "9.1", "name": "PJSIP/engine-00000001", "state": "Ring"})
    seen = Sighting(
        channels={"engine": [leg], "pstn": [ringing]},
        bridges={"engine": [bridge], "pstn": []},
    )
    found = leftovers(seen)
    assert found.channels == {"engine": (leg,), "pstn": (ringing,)}
    assert found.bridges == {"engine": (bridge,)}
    assert found.lines() == [
        "engine Asterisk: channel PJSIP/agent-001-00000004 (Up)",
        "engine Asterisk: bridge agent-anna (mixing, 1 channel)",
        "pstn Asterisk: channel PJSIP/engine-00000001 (Ring)",
    ]


def test_given_an_empty_bridge_then_it_is_left_too():
    empty = SeenBridge.from_ari({"id": "room-1", "bridge_type": "mixing", "channels": []})
    assert leftovers(Sighting(bridges={"engine": [empty]})).lines() == [
        "engine Asterisk: bridge room-1 (mixing, 0 channels)"
    ]


def test_given_a_channel_without_a_name_then_its_id_names_it():
    bare = SeenChannel.from_ari({"id": "1733.9"})
    assert bare == SeenChannel("1733.9", "", "")
    assert bare.describe() == "channel 1733.9"
