"""The PJSIP dial strings every service hands to Asterisk."""

from pbx_engine.ari.dialstrings import dial_string, endpoint_dial_string, target_dial_string


def test_given_a_number_and_a_trunk_then_the_number_goes_out_through_the_trunk():
    assert dial_string("+12025551000", "pstn") == "PJSIP/+12025551000@pstn"


def test_given_a_softphone_endpoint_then_it_is_rung_directly():
    assert endpoint_dial_string("agent-001") == "PJSIP/agent-001"


def test_given_a_target_then_a_number_goes_through_the_trunk_and_a_browser_to_its_endpoint():
    assert target_dial_string("+12025551000", "pstn") == "PJSIP/+12025551000@pstn"
    assert target_dial_string("browser:guest-0a", "pstn") == "PJSIP/guest-0a"
