"""ARI event models: realistic Asterisk 16 payloads, unknown fields and types, routing ids."""

import json

import pytest

from pbx_engine.ari.errors import (
    AriError,
    AriNotServing,
    AriProtocolError,
    AriUnavailable,
    ChannelGone,
    error_for,
)
from pbx_engine.ari.events import (
    Channel,
    ChannelDestroyed,
    Dial,
    PlaybackFinished,
    StasisStart,
    UnknownEvent,
    parse_event,
)

CHANNEL = {
    "id": "out-1",
    "name": "PJSIP/pstn-00000001",
    "state": "Up",
    "caller": {"name": "", "number": "+12025550999"},
    "connected": {"name": "", "number": "+12025550100"},
    "accountcode": "",
    "dialplan": {
        "context": "engine-amd",
        "exten": "s",
        "priority": 3,
        "app_name": "Stasis",
        "app_data": "pbx-engine,amd,HUMAN,HUMAN-800-800",
    },
    "creationtime": "2026-11-23T10:00:00.123+0000",
    "language": "en",
}


def test_given_a_stasis_start_with_amd_args_when_parsed_then_args_and_times_are_typed():
    event = parse_event(
        {
            "type": "StasisStart",
            "timestamp": "2026-11-23T10:00:03.456+0000",
            "args": ["amd", "HUMAN", "HUMAN-800-800"],
            "channel": CHANNEL,
            "asterisk_id": "08:00:27:aa:bb:cc",
            "application": "pbx-engine",
        }
    )
    assert isinstance(event, StasisStart)
    assert event.args == ("amd", "HUMAN", "HUMAN-800-800")
    assert event.channel.dialplan.context == "engine-amd"
    assert event.timestamp.utcoffset().total_seconds() == 0
    assert event.channel.creationtime.microsecond == 123000
    assert event.channel_ids() == ("out-1",)


def test_given_fields_a_newer_asterisk_adds_when_parsed_then_they_are_ignored():
    event = parse_event(
        {
            "type": "ChannelDestroyed",
            "cause": 17,
            "cause_txt": "User busy",
            "channel": {**CHANNEL, "protocol_id": "abc@127.0.0.1", "tenantid": "t1"},
            "brand_new_field": {"x": 1},
        }
    )
    assert isinstance(event, ChannelDestroyed)
    assert (event.cause, event.cause_txt) == (17, "User busy")


def test_given_a_dial_event_when_routed_then_it_names_peer_and_caller():
    event = parse_event(
        {
            "type": "Dial",
            "dialstatus": "RINGING",
            "dialstring": "+12025550100@pstn",
            "peer": {**CHANNEL, "id": "peer-1"},
            "caller": {**CHANNEL, "id": "caller-1"},
        }
    )
    assert isinstance(event, Dial)
    assert event.channel_ids() == ("peer-1", "caller-1")


def test_given_a_dial_without_caller_when_routed_then_only_the_peer_is_named():
    event = parse_event({"type": "Dial", "dialstatus": "ANSWER", "peer": CHANNEL})
    assert event.channel_ids() == ("out-1",)


def test_given_a_playback_event_when_routed_then_its_target_channel_is_named():
    event = parse_event(
        {
            "type": "PlaybackFinished",
            "playback": {
                "id": "pb-1",
                "media_uri": "sound:hello",
                "target_uri": "channel:out-1",
                "language": "en",
                "state": "done",
            },
        }
    )
    assert isinstance(event, PlaybackFinished)
    assert event.channel_ids() == ("out-1",)


def test_given_a_bridge_playback_when_routed_then_no_channel_is_named():
    event = parse_event(
        {
            "type": "PlaybackStarted",
            "playback": {"id": "pb-2", "target_uri": "bridge:b-1", "state": "playing"},
        }
    )
    assert event.channel_ids() == ()


def test_given_an_unknown_event_type_when_parsed_then_it_is_kept_whole():
    raw = {"type": "ContactStatusChange", "endpoint": {"resource": "agent-001"}}
    event = parse_event(json.dumps(raw))
    assert isinstance(event, UnknownEvent)
    assert event.type == "ContactStatusChange"
    assert event.data == raw
    assert event.channel_ids() == ()


def test_given_a_known_type_in_an_unexpected_shape_when_parsed_then_it_is_not_lost():
    event = parse_event({"type": "StasisStart", "channel": "not-an-object"})
    assert isinstance(event, UnknownEvent)
    assert event.data["channel"] == "not-an-object"


@pytest.mark.parametrize("payload", [b"not json", "[1, 2]", "42"])
def test_given_a_message_that_is_no_json_object_when_parsed_then_a_protocol_error_says_so(payload):
    with pytest.raises(AriProtocolError):
        parse_event(payload)


@pytest.mark.parametrize(
    ("status", "path", "gone"),
    [
        (404, "/channels/out-1", True),
        (409, "/channels/out-1/continue", True),
        (422, "/channels/out-1/play", True),
        (404, "/bridges/b-1", True),
        (404, "/playbacks/p-1", True),
        (500, "/channels/out-1", False),
        (400, "/channels/create", False),
        (404, "/applications/nope", False),
        (401, "/channels", False),
    ],
)
def test_error_mapping_treats_gone_resources_as_ordinary(status, path, gone):
    error = error_for(status, "POST", path, "Channel not found")
    assert isinstance(error, ChannelGone) is gone
    assert str(status) in str(error)


@pytest.mark.parametrize(
    "path", ["/channels/create", "/channels/out-1", "/bridges", "/asterisk/info"]
)
def test_a_503_means_asterisk_is_not_serving_and_did_nothing_whatever_the_path(path):
    # Asterisk's HTTP server answers every request 503 while it stops (or before it is fully up):
    # unavailable (retried once it is back), never a refusal of this request.
    error = error_for(503, "POST", path, "<html>Shutdown in progress</html>")
    assert isinstance(error, AriNotServing) and isinstance(error, AriUnavailable)
    assert not isinstance(error, AriError)


@pytest.mark.parametrize(
    ("dialplan", "app"),
    [
        ({"app_name": "Stasis", "app_data": "engine-b"}, "engine-b"),
        ({"app_name": "Stasis", "app_data": "pbx-engine,agent-login,agent-001"}, "pbx-engine"),
        ({"app_name": "AppDial", "app_data": "(Outgoing Line)"}, None),
        ({"context": "from-pstn", "exten": "s", "priority": 1}, None),  # older Asterisk
    ],
)
def test_the_ari_app_a_channel_is_in_is_read_from_its_dialplan_application(dialplan, app):
    assert Channel.model_validate({"id": "c", "dialplan": dialplan}).dialplan.stasis_app() == app
