import pytest

from pbx_engine.cases.ids import CASE_ID_MAX, parse_case_id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1),
        ("42", 42),
        (42, 42),
        (str(CASE_ID_MAX), CASE_ID_MAX),
        (CASE_ID_MAX, CASE_ID_MAX),
    ],
)
def test_given_a_positive_id_within_the_bigint_key_then_it_names_a_case(value, expected):
    assert parse_case_id(value) == expected


@pytest.mark.parametrize(
    "value",
    ["0", "-3", 0, -3, str(CASE_ID_MAX + 1), CASE_ID_MAX + 1, "abc", "", "1.5", "9" * 5000],
)
def test_given_no_positive_whole_number_within_the_bigint_key_then_no_case(value):
    assert parse_case_id(value) is None
