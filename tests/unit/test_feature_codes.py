import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.conferences.feature_codes import (
    AddAgent,
    AddNumber,
    DropLast,
    FeatureCodeReader,
    HandOver,
    UnknownCode,
    parse_code,
)


def keyed(keys: str) -> list:
    reader = FeatureCodeReader()
    return [c for c in (reader.press(k) for k in keys) if c is not None]


def test_given_star_one_and_a_number_when_hash_then_add_that_number():
    assert keyed("*148225551234#") == [AddNumber("48225551234")]


def test_given_star_two_and_an_agent_id_when_hash_then_add_that_colleague():
    assert keyed("*217#") == [AddAgent(17)]


def test_given_star_zero_when_hash_then_drop_the_last_party():
    assert keyed("*0#") == [DropLast()]


def test_given_star_three_when_hash_then_hand_the_call_to_the_cases_owner():
    assert keyed("*3#") == [HandOver(None)]


def test_given_star_three_and_an_agent_id_when_hash_then_hand_the_call_to_that_colleague():
    assert keyed("*342#") == [HandOver(42)]


def test_given_keys_outside_a_code_when_pressed_then_ignored():
    assert keyed("123#45") == []


def test_given_a_star_in_the_middle_when_pressed_then_the_code_starts_again():
    assert keyed("*14822*0#") == [DropLast()]


def test_given_two_codes_in_a_row_when_keyed_then_both_commands():
    assert keyed("*0#*25#") == [DropLast(), AddAgent(5)]


@pytest.mark.parametrize("keys", ["", "9", "1", "112", "2", "2x", "00", "3x", "1" + "9" * 16])
def test_given_a_code_we_do_not_know_when_parsed_then_unknown(keys):
    assert parse_code(keys) == UnknownCode(keys)


def test_given_a_runaway_code_when_too_many_keys_then_it_is_forgotten():
    assert keyed("*1" + "5" * 30 + "#") == []


@given(st.text(alphabet="0123456789*#", max_size=60))
def test_given_any_keys_when_pressed_then_one_command_per_completed_code_at_most(keys):
    assert len(keyed(keys)) <= keys.count("#")
