import pytest

from pbx_engine.agi.server import parse_headers, route_of
from pbx_engine.numbers import BadNumber, to_e164


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+48 600 100 200", "US", "+48600100200"),
        ("0048600100200", "US", "+48600100200"),
        ("(202) 555-0100", "US", "+12025550100"),
        ("600 100 200", "PL", "+48600100200"),
        ("020 7946 0018", "GB", "+442079460018"),
    ],
)
def test_numbers_are_normalised_to_e164(raw, region, expected):
    assert to_e164(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "   ", "hello", "+1", "12"])
def test_impossible_numbers_are_refused_with_a_reason(raw):
    with pytest.raises(BadNumber):
        to_e164(raw, "US")


def test_agi_headers_give_route_and_arguments():
    block = (
        b"agi_network: yes\nagi_network_script: lookup_case\nagi_request: "
        b"agi://127.0.0.1:4573/lookup_case\nagi_channel: PJSIP/pstn-00000002\n"
        b"agi_callerid: +13125550177\nagi_arg_1: +13125550177\nagi_arg_2: +12025551000\n"
        b"garbage line\n\n"
    )
    headers = parse_headers(block)
    assert headers["agi_channel"] == "PJSIP/pstn-00000002"
    assert "garbage line" not in str(headers)
    assert route_of(headers) == ("lookup_case", ("+13125550177", "+12025551000"))


def test_agi_route_ignores_slashes_and_query():
    assert route_of({"agi_network_script": "/lookup_case?x=1"}) == ("lookup_case", ())
    assert route_of({}) == ("", ())
