"""An SMS's alphabet and parts, as carriers count and bill them."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.messaging.sms_text import GSM_BASIC, GSM_EXTENSION, SmsEncoding, measure_sms

PLAIN = sorted(set(GSM_BASIC) - {"\x1b"})


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("", SmsEncoding.GSM7, 0, 1),
        ("Hello", SmsEncoding.GSM7, 5, 1),
        ("a" * 160, SmsEncoding.GSM7, 160, 1),
        ("a" * 161, SmsEncoding.GSM7, 161, 2),
        ("a" * 306, SmsEncoding.GSM7, 306, 2),
        ("a" * 307, SmsEncoding.GSM7, 307, 3),
        ("€" * 80, SmsEncoding.GSM7, 160, 1),  # two septets each
        ("€" * 81, SmsEncoding.GSM7, 162, 2),
        ("a" * 152 + "€" + "a" * 152, SmsEncoding.GSM7, 306, 3),  # the € is not split: 152+153+1
        ("Zażółć", SmsEncoding.UCS2, 6, 1),
        ("ç", SmsEncoding.UCS2, 1, 1),  # the alphabet has Ç, not ç
        ("x" * 70, SmsEncoding.GSM7, 70, 1),
        ("x" * 69 + "ł", SmsEncoding.UCS2, 70, 1),
        ("x" * 70 + "ł", SmsEncoding.UCS2, 71, 2),
        ("😀" * 35, SmsEncoding.UCS2, 70, 1),  # outside the basic plane: two units each
        ("😀" * 36, SmsEncoding.UCS2, 72, 2),
        ("x" + "😀" * 33 + "y", SmsEncoding.UCS2, 68, 1),
        ("x" * 66 + "😀" + "y" * 4, SmsEncoding.UCS2, 72, 2),  # the pair moves to part two
    ],
)
def test_given_a_text_then_its_alphabet_units_and_parts_are_as_carriers_count_them(
    text, encoding, units, parts
):
    measured = measure_sms(text)
    assert (measured.encoding, measured.units, measured.parts) == (encoding, units, parts)


def test_given_characters_outside_the_alphabet_then_they_are_named_once_each_in_order():
    measured = measure_sms("Płać “teraz” ł")
    assert measured.forcing_ucs2 == ("ł", "ć", "“", "”")
    assert "UCS-2 because of 'ł' 'ć'" in measured.describe()


@given(st.text(alphabet=PLAIN, max_size=1000))
def test_given_any_text_of_the_basic_alphabet_then_parts_follow_160_then_153(text):
    measured = measure_sms(text)
    expected = 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert (measured.encoding, measured.units, measured.parts) == (
        SmsEncoding.GSM7,
        len(text),
        expected,
    )


@given(st.text(alphabet=PLAIN + list(GSM_EXTENSION), max_size=600))
def test_given_any_gsm_text_then_no_part_holds_more_than_153_septets(text):
    measured = measure_sms(text)
    assert measured.encoding is SmsEncoding.GSM7
    if measured.units > 160:
        assert measured.parts >= math.ceil(measured.units / 153)
        assert measured.parts <= math.ceil(measured.units / 152)  # at most one septet lost a part


@given(st.text(alphabet=st.characters(codec="utf-16", exclude_categories=["Cs"]), max_size=300))
def test_given_any_text_then_ucs2_is_chosen_exactly_when_a_character_is_not_gsm(text):
    measured = measure_sms(text)
    gsm = set(PLAIN) | set(GSM_EXTENSION)
    assert (measured.encoding is SmsEncoding.UCS2) == any(c not in gsm for c in text)
