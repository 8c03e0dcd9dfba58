"""The outbound policy, pure: what kind of line a number is, and whether a purpose may dial
it (country, kind, hourly caps per agent, per link and per address, seats in a room)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.conferences.invitations import Invitation, make_token, read_token
from pbx_engine.config import ConfigError, OutboundConfig, parse_config
from pbx_engine.outbound.policy import (
    SAFE_KINDS,
    Destination,
    DialCounts,
    NumberKind,
    Purpose,
    PurposeRules,
    RoomLoad,
    classify,
    decide,
    room_has_slot,
)

US_ONLY = PurposeRules(
    countries=frozenset({"US"}),
    per_agent_per_hour=3,
    per_link_per_hour=2,
    per_address_per_hour=4,
)
PHONE = classify("+12025550177")


@pytest.mark.parametrize(
    ("number", "country", "kind"),
    [
        ("+12025550177", "US", NumberKind.FIXED_LINE_OR_MOBILE),
        ("+18005550100", "US", NumberKind.TOLL_FREE),
        ("+19005550100", "US", NumberKind.PREMIUM_RATE),
        ("+442079460000", "GB", NumberKind.FIXED_LINE),
        ("+48600100200", "PL", NumberKind.MOBILE),
        ("+4970012345678", "DE", NumberKind.PERSONAL_NUMBER),
        ("+8816123456789", "001", NumberKind.SATELLITE),  # phonenumbers says "mobile"
        ("+881612345678", "001", NumberKind.SATELLITE),
        ("+870772123456", "001", NumberKind.SATELLITE),
        ("+88216123456", "001", NumberKind.INTERNATIONAL_NETWORK),
        ("+882123456789", "001", NumberKind.INTERNATIONAL_NETWORK),
        ("+12025", "US", NumberKind.UNKNOWN),  # too short to be valid
        ("not a number", "ZZ", NumberKind.UNKNOWN),
    ],
)
def test_given_a_number_when_classified_then_its_country_and_kind(number, country, kind):
    destination = classify(number)
    assert (destination.country, destination.kind) == (country, kind)


@pytest.mark.parametrize("number", ["+19005550100", "+19005551234"])
def test_given_a_premium_rate_number_when_any_purpose_dials_then_refused_403(number):
    decision = decide(US_ONLY, classify(number), DialCounts())
    assert not decision.allowed and decision.reason == "kind" and decision.status == 403
    assert "premium rate" in decision.message


@pytest.mark.parametrize("number", ["+8816123456789", "+882123456789", "+870772123456"])
def test_given_a_satellite_or_network_number_when_even_its_country_is_allowed_then_refused(
    number,
):
    rules = PurposeRules(countries=frozenset({"US", "001"}))
    decision = decide(rules, classify(number), DialCounts())
    assert not decision.allowed and decision.reason == "kind"


def test_given_a_kind_the_config_allows_when_dialled_then_its_country_still_decides():
    rules = PurposeRules(countries=frozenset({"US"}), kinds=SAFE_KINDS | {NumberKind.SATELLITE})
    decision = decide(rules, classify("+8816123456789"), DialCounts())
    assert not decision.allowed and decision.reason == "country"
    assert "no country" in decision.message
    rules = PurposeRules(
        countries=frozenset({"US", "001"}), kinds=SAFE_KINDS | {NumberKind.SATELLITE}
    )
    assert decide(rules, classify("+8816123456789"), DialCounts()).allowed


def test_given_a_country_not_listed_when_dialled_then_refused_403_naming_it():
    decision = decide(US_ONLY, classify("+442079460000"), DialCounts())
    assert (decision.allowed, decision.reason, decision.status) == (False, "country", 403)
    assert "GB" in decision.message


def test_given_an_ordinary_number_under_every_cap_when_dialled_then_allowed():
    counts = DialCounts(by_agent=2, by_link=1, by_address=3)
    decision = decide(US_ONLY, PHONE, counts, agent=True, link=True, address=True)
    assert decision.allowed and decision.reason == "ok"


@pytest.mark.parametrize(
    ("counts", "who", "reason"),
    [
        (DialCounts(by_agent=3), {"agent": True}, "agent_rate"),
        (DialCounts(by_link=2), {"link": True}, "link_rate"),
        (DialCounts(by_address=4), {"address": True}, "address_rate"),
    ],
)
def test_given_a_cap_reached_when_the_same_asker_dials_again_then_refused_429(counts, who, reason):
    decision = decide(US_ONLY, PHONE, counts, **who)
    assert (decision.allowed, decision.reason, decision.status) == (False, reason, 429)


def test_given_counts_over_a_cap_when_the_asker_is_not_that_kind_then_it_does_not_apply():
    # A campaign call has no agent, no link, no address: their counts say nothing about it.
    counts = DialCounts(by_agent=99, by_link=99, by_address=99)
    assert decide(US_ONLY, PHONE, counts).allowed


def test_given_no_cap_when_counts_are_huge_then_allowed():
    rules = PurposeRules(countries=frozenset({"US"}))
    assert decide(rules, PHONE, DialCounts(10**6, 10**6, 10**6), agent=True, link=True).allowed


def test_given_a_zero_cap_when_anyone_asks_then_refused():
    rules = PurposeRules(countries=frozenset({"US"}), per_link_per_hour=0)
    assert decide(rules, PHONE, DialCounts(), link=True).reason == "link_rate"


@given(
    kind=st.sampled_from(list(NumberKind)),
    country=st.sampled_from(["US", "GB", "PL", "001", "ZZ"]),
    allowed_kinds=st.frozensets(st.sampled_from(list(NumberKind))),
    allowed_countries=st.frozensets(st.sampled_from(["US", "GB", "PL", "001"])),
    by_agent=st.integers(0, 10),
    by_link=st.integers(0, 10),
    by_address=st.integers(0, 10),
    caps=st.tuples(*[st.none() | st.integers(0, 10)] * 3),
    who=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
def test_given_any_dial_then_allowed_exactly_when_every_rule_passes(
    kind, country, allowed_kinds, allowed_countries, by_agent, by_link, by_address, caps, who
):
    rules = PurposeRules(allowed_countries, allowed_kinds, *caps)
    destination = Destination("+10000000000", country, kind)
    counts = DialCounts(by_agent, by_link, by_address)
    decision = decide(rules, destination, counts, agent=who[0], link=who[1], address=who[2])
    under = [
        not asked or cap is None or count < cap
        for asked, cap, count in zip(who, caps, (by_agent, by_link, by_address), strict=True)
    ]
    # A guest's browser reaches no phone network: only the caps apply to it.
    browser = kind is NumberKind.BROWSER
    expected = (browser or (kind in allowed_kinds and country in allowed_countries)) and all(under)
    assert decision.allowed is expected
    assert decision.status == (200 if expected else decision.status)
    if not expected:
        assert decision.status in (403, 429) and decision.message


@given(st.from_regex(r"\+[0-9]{1,17}", fullmatch=True) | st.text(max_size=30))
def test_given_any_text_when_classified_then_a_destination_and_never_an_error(text):
    destination = classify(text)
    assert destination.kind in NumberKind
    if destination.kind is NumberKind.UNKNOWN:
        assert not decide(US_ONLY, destination, DialCounts()).allowed


@given(
    members=st.integers(0, 20),
    ringing=st.integers(0, 20),
    max_members=st.integers(2, 20),
)
def test_given_a_room_when_calls_ring_then_they_hold_seats(members, ringing, max_members):
    has_slot = room_has_slot(RoomLoad(members, ringing, max_members))
    assert has_slot is (members + ringing < max_members)


def test_given_a_two_member_room_when_two_calls_ring_then_a_third_finds_no_seat():
    assert room_has_slot(RoomLoad(0, 1, 2))
    assert not room_has_slot(RoomLoad(0, 2, 2))
    assert not room_has_slot(RoomLoad(1, 1, 2))


def test_given_the_default_config_then_each_purpose_gets_the_home_country_and_safe_kinds():
    config = OutboundConfig()
    for purpose in Purpose:
        rules = config.rules(purpose.value, "PL")
        assert rules.countries == {"PL"} and rules.kinds == SAFE_KINDS
        assert NumberKind.PREMIUM_RATE not in rules.kinds
        assert NumberKind.SATELLITE not in rules.kinds


def test_given_a_purpose_section_when_read_then_it_overrides_only_what_it_names():
    config = OutboundConfig(
        countries=["us"],
        per_link_per_hour=4,
        purposes={"campaign": {"countries": ["US", "CA"], "per_agent_per_hour": 2}},
    )
    campaign = config.rules("campaign", "US")
    assert campaign.countries == {"US", "CA"} and campaign.per_agent_per_hour == 2
    assert campaign.per_link_per_hour == 4
    assert config.rules("party", "US").countries == {"US"}


@pytest.mark.parametrize(
    "outbound",
    [
        {"kinds": ["premium"]},
        {"countries": ["XX"]},
        {"purposes": {"spam": {}}},
        {"purposes": {"party": {"kinds": ["nope"]}}},
        {"per_link_per_hour": -1},
        {"invitation_max_days": 90},
    ],
)
def test_given_a_bad_outbound_section_when_loading_then_the_key_is_named(outbound):
    with pytest.raises(ConfigError, match="outbound"):
        parse_config(
            {"ari": {"url": "http://a:1", "username": "u"}, "outbound": outbound}, environ={}
        )


def test_given_an_invitation_token_with_an_id_then_it_reads_back_with_it():
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 12, 1, tzinfo=UTC)
    invitation = Invitation("sales", now + timedelta(hours=1), "abc123")
    assert read_token(make_token(invitation, b"s" * 32), b"s" * 32, now) == invitation


def test_given_a_room_whose_pins_are_hashed_then_it_admits_as_with_plain_pins():
    from pbx_engine.conferences.rooms import Refusal, Room, admit, hash_pin

    room = Room("r", pin=hash_pin("1234"), moderator_pin=hash_pin("9999"), max_members=2)
    assert room.pins_hashed and "1234" not in room.pin
    assert admit(room, "1234", 0).admitted and not admit(room, "1234", 0).moderator
    assert admit(room, "9999", 5).moderator
    for wrong in (None, "", "1235", room.pin):  # the hash itself is no PIN
        assert admit(room, wrong, 0).refused is Refusal.WRONG_PIN
    assert admit(room, None, 1, invited=True).admitted
    assert admit(room, None, 2, invited=True).refused is Refusal.FULL


def test_given_a_browser_target_then_it_is_a_browser_whatever_follows():
    assert classify("browser:guest-0123456789abcdef").kind is NumberKind.BROWSER
    assert classify("+browser:x").kind is NumberKind.UNKNOWN  # only the engine's own prefix


def test_given_a_browser_then_no_number_rule_refuses_it_but_the_link_cap_does():
    rules = PurposeRules(frozenset({"US"}), frozenset(), per_link_per_hour=2)
    browser = classify("browser:guest-0123456789abcdef")
    assert decide(rules, browser, DialCounts(by_link=1), link=True).allowed
    assert decide(rules, browser, DialCounts(by_link=2), link=True).reason == "link_rate"
