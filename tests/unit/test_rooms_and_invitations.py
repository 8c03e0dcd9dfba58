from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.conferences.invitations import Invitation, InvitationError, make_token, read_token
from pbx_engine.conferences.rooms import Refusal, Room, admit
from pbx_engine.config import ConfigError, parse_config

ROOM = Room("r", pin="1234", moderator_pin="9999", max_members=3)
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
SECRET = b"s" * 32


def test_given_the_rooms_pin_when_the_room_has_space_then_a_member():
    assert admit(ROOM, "1234", 0) == admit(ROOM, "1234", 2)
    assert admit(ROOM, "1234", 0).admitted and not admit(ROOM, "1234", 0).moderator


def test_given_the_moderators_pin_when_entering_then_the_moderator_even_in_a_full_room():
    decision = admit(ROOM, "9999", 3)
    assert decision.admitted and decision.moderator


@pytest.mark.parametrize("pin", [None, "", "123", "12345", "9998"])
def test_given_a_wrong_or_no_pin_when_entering_then_refused(pin):
    assert admit(ROOM, pin, 0).refused is Refusal.WRONG_PIN


def test_given_a_full_room_when_a_member_comes_then_refused():
    assert admit(ROOM, "1234", 3).refused is Refusal.FULL


def test_given_a_room_without_pins_when_anyone_comes_then_a_member():
    open_room = Room("o", max_members=2)
    assert not open_room.asks_for_pin
    assert admit(open_room, None, 1).admitted
    assert admit(open_room, None, 2).refused is Refusal.FULL


def test_given_only_a_moderator_pin_when_a_caller_keys_nothing_then_a_member():
    room = Room("m", moderator_pin="9999")
    assert room.asks_for_pin
    assert admit(room, "", 0).admitted and not admit(room, "", 0).moderator
    assert admit(room, "1111", 0).refused is Refusal.WRONG_PIN
    assert admit(room, "9999", 0).moderator


def test_given_a_room_when_asked_for_its_numbers_then_its_extension_and_did_only():
    room = Room("x", extension="8001", did="+12025551800")
    assert room.answers_to("8001") and room.answers_to("+12025551800")
    assert not room.answers_to("8002") and not Room("y").answers_to("")


def test_given_a_token_when_read_before_expiry_then_the_room():
    token = make_token(Invitation("sales", NOW + timedelta(hours=1)), SECRET)
    assert read_token(token, SECRET, NOW) == Invitation("sales", NOW + timedelta(hours=1))


def test_given_a_token_when_read_at_or_after_expiry_then_expired():
    token = make_token(Invitation("sales", NOW), SECRET)
    with pytest.raises(InvitationError, match="expired"):
        read_token(token, SECRET, NOW)


def test_given_a_token_when_another_secret_reads_it_then_not_valid():
    token = make_token(Invitation("sales", NOW + timedelta(hours=1)), SECRET)
    with pytest.raises(InvitationError, match="not valid"):
        read_token(token, b"t" * 32, NOW)


@given(st.text(max_size=80))
def test_given_any_text_when_read_as_a_token_then_an_invitation_error_never_a_crash(text):
    with pytest.raises(InvitationError):
        read_token(text, SECRET, NOW)


def test_given_a_token_when_its_payload_is_changed_then_not_valid():
    token = make_token(Invitation("sales", NOW + timedelta(hours=1)), SECRET)
    other = make_token(Invitation("board", NOW + timedelta(days=9)), SECRET)
    forged = other.split(".")[0] + "." + token.split(".")[1]
    with pytest.raises(InvitationError, match="not valid"):
        read_token(forged, SECRET, NOW)


def test_given_two_rooms_with_one_extension_when_the_config_is_read_then_refused():
    raw = {
        "ari": {"url": "http://127.0.0.1:8088", "username": "u"},
        "rooms": [{"name": "a", "extension": "8001"}, {"name": "b", "extension": "8001"}],
    }
    with pytest.raises(ConfigError, match="same extension: 8001"):
        parse_config(raw, "engine.toml", environ={})
