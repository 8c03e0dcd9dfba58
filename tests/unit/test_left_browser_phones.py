"""Which browser phones an earlier run left are taken out of Asterisk: those carrying no call."""

from pbx_engine.agents.browser_phones import phones_to_withdraw
from pbx_engine.storage.browser_phones import PhoneOnRecord


def agent(endpoint: str) -> PhoneOnRecord:
    return PhoneOnRecord(endpoint, "0ld0run0", login="anna", made_for=None)


def guest(endpoint: str) -> PhoneOnRecord:
    return PhoneOnRecord(endpoint, "0ld0run0", login=None, made_for="widget:")


def test_phones_with_no_call_go_and_those_on_a_call_stay():
    left = [agent("web-12"), guest("guest-0a1b2c3d4e5f6071"), agent("web-7")]
    channels = ["PJSIP/web-12-0000002a", "PJSIP/pstn-00000031"]
    assert phones_to_withdraw(left, channels) == [left[1], left[2]]


def test_an_endpoint_whose_name_begins_another_is_told_apart():
    left = [agent("web-1"), agent("web-12")]
    assert phones_to_withdraw(left, ["PJSIP/web-12-00000001"]) == [left[0]]
    assert phones_to_withdraw(left, ["PJSIP/web-1-00000001"]) == [left[1]]


def test_channels_of_other_technologies_or_unnamed_carry_no_phone():
    left = [guest("guest-0a1b2c3d4e5f6071")]
    channels = ["Local/guest-0a1b2c3d4e5f6071@x-00000001;1", "UnicastRTP/127.0.0.1:4000-0001", ""]
    assert phones_to_withdraw(left, channels) == left


def test_nothing_left_nothing_to_withdraw():
    assert phones_to_withdraw([], ["PJSIP/web-12-0000002a"]) == []
