"""Number look-ups: reading Twilio Lookup v2's answers as its documentation shows them, and what
a look-up says about texting a number."""

import pytest

from pbx_engine.lookups.provider import LineCheck, LineType
from pbx_engine.lookups.service import sms_problem
from pbx_engine.lookups.twilio import line_check_of

NUMBER = "+14155550100"


def answer(**line_type_intelligence) -> dict:
    return {
        "calling_country_code": "1",
        "country_code": "US",
        "phone_number": NUMBER,
        "national_format": "(415) 555-0100",
        "valid": True,
        "validation_errors": [],
        "line_type_intelligence": {
            "error_code": None,
            "mobile_country_code": "310",
            "mobile_network_code": "456",
            "carrier_name": "Verizon Wireless",
            "type": "mobile",
            **line_type_intelligence,
        },
    }


def test_a_mobile_number_is_valid_with_its_carrier():
    assert line_check_of(NUMBER, answer()) == LineCheck(
        NUMBER, True, LineType.MOBILE, "Verizon Wireless"
    )


@pytest.mark.parametrize(
    ("kind", "line_type"),
    [
        ("landline", LineType.LANDLINE),
        ("fixedVoip", LineType.VOIP),
        ("nonFixedVoip", LineType.VOIP),
        ("tollFree", LineType.TOLL_FREE),
        ("premium", LineType.OTHER),
        ("voicemail", LineType.OTHER),
        ("pager", LineType.OTHER),
        ("unknown", LineType.UNKNOWN),
        ("somethingNew", LineType.UNKNOWN),  # a type added later changes nothing
        (None, LineType.UNKNOWN),
    ],
)
def test_each_documented_line_type_maps_to_what_the_engine_acts_on(kind, line_type):
    assert line_check_of(NUMBER, answer(type=kind)).line_type is line_type


def test_an_invalid_number_says_why_in_the_providers_words():
    check = line_check_of(
        NUMBER,
        {"phone_number": NUMBER, "valid": False, "validation_errors": ["TOO_SHORT"],
         "line_type_intelligence": None},
    )  # fmt: skip
    assert (check.valid, check.why) == (False, "lookup: TOO_SHORT")
    assert line_check_of(NUMBER, {"valid": False}).why == "lookup: not a valid number"


def test_when_the_package_cannot_say_the_number_stays_valid_of_unknown_type():
    # e.g. 60601: a Canadian number without access to its portability data.
    check = line_check_of(NUMBER, answer(error_code=60601, type=None, carrier_name=None))
    assert check == LineCheck(NUMBER, True, LineType.UNKNOWN)


def test_a_basic_answer_without_the_package_is_valid_of_unknown_type():
    assert line_check_of(NUMBER, {"valid": True}) == LineCheck(NUMBER, True)


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        (None, None),  # no provider, or it could not say: nothing stops the text
        (LineCheck(NUMBER, True, LineType.MOBILE), None),
        (LineCheck(NUMBER, True, LineType.VOIP), None),
        (LineCheck(NUMBER, True, LineType.UNKNOWN), None),
        (LineCheck(NUMBER, True, LineType.LANDLINE), "a landline (by look-up): no SMS reaches it"),
        (LineCheck(NUMBER, True, LineType.TOLL_FREE), "a toll-free number (by look-up): no SMS "
         "reaches it"),
        (LineCheck(NUMBER, False, why="lookup: TOO_SHORT"), "lookup: TOO_SHORT"),
    ],
)  # fmt: skip
def test_what_a_look_up_says_about_texting_a_number(check, problem):
    assert sms_problem(check) == problem
