"""The ICE servers a browser phone is given: STUN as configured, TURN with coturn's
time-limited credentials, relay-only when the centre asks for it."""

from datetime import UTC, datetime, timedelta

import pytest

from pbx_engine.agents.ice import ice_servers_for, turn_credential
from pbx_engine.config import ConfigError, WebrtcConfig, parse_config

SECRET = "north-star-secret"
NOW = datetime(2026, 12, 5, 7, 46, 40, tzinfo=UTC)


def test_given_a_secret_then_the_credential_is_coturns_hmac_sha1_of_expiry_and_user():
    # As `openssl dgst -sha1 -hmac north-star-secret -binary | base64` gives it.
    expires_at = datetime.fromtimestamp(1796500000, UTC)
    assert turn_credential(SECRET, "web-7", expires_at) == (
        "1796500000:web-7",
        "fTzttgc1CTr9hEn6DdfK5oCso4o=",
    )


def test_given_no_servers_then_the_browser_uses_its_own_addresses_only():
    assert ice_servers_for(WebrtcConfig(), "web-7", NOW).as_json() == {
        "ice_servers": [],
        "ice_transport_policy": "all",
    }


def test_given_stun_and_turn_then_turn_carries_a_credential_that_lasts_the_configured_hours():
    config = WebrtcConfig(
        stun_urls=["stun:turn.example.com:3478"],
        turn_urls=["turn:turn.example.com:3478?transport=udp"],
        turn_secret=SECRET,
        turn_credential_hours=8,
        relay_only=True,
    )
    given = ice_servers_for(config, "guest-0123", NOW).as_json()
    stun, turn = given["ice_servers"]
    assert stun == {"urls": ["stun:turn.example.com:3478"]}
    expiry = int((NOW + timedelta(hours=8)).timestamp())
    assert turn["username"] == f"{expiry}:guest-0123"
    assert turn["credential"] == turn_credential(SECRET, "guest-0123", NOW + timedelta(hours=8))[1]
    assert given["ice_transport_policy"] == "relay"


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"turn_urls": ["turn:t:3478"]}, "turn_urls need turn_secret"),
        ({"relay_only": True}, "relay_only needs turn_urls"),
        ({"stun_urls": ["https://stun.example.com"]}, "not a stun:, stuns:, turn: or turns:"),
        ({"turn_credential_hours": 0}, "greater than 0"),
        ({"dtls_certificate": "keys/dtls.pem"}, "give the full path"),
        ({"dtls_private_key": "/etc/asterisk/keys/dtls.key"}, "needs dtls_certificate"),
    ],
)
def test_given_a_bad_webrtc_section_then_the_config_names_the_problem(section, problem):
    raw = {"ari": {"url": "http://127.0.0.1:8088", "username": "u", "password": "p"}}
    with pytest.raises(ConfigError, match=problem):
        parse_config({**raw, "webrtc": section}, environ={})


def test_given_the_turn_secret_in_the_environment_then_it_is_used():
    raw = {
        "ari": {"url": "http://127.0.0.1:8088", "username": "u", "password": "p"},
        "webrtc": {"turn_urls": ["turn:t:3478"]},
    }
    config = parse_config(raw, environ={"PBX_ENGINE_TURN_SECRET": SECRET})
    assert config.webrtc.turn_secret is not None
    assert config.webrtc.turn_secret.get_secret_value() == SECRET
