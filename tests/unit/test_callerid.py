"""Caller-ID pools and the choice of number: every tier, rotation, cap, cool-down and rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx_engine.callerid.choice import CallerIdRule, Usage, assess_health, pick_caller_id
from pbx_engine.callerid.geography import place_of
from pbx_engine.callerid.pools import parse_pools
from pbx_engine.config import ConfigError

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)

POOLS = parse_pools(
    """
[defaults]
daily_cap = 3

[[pool]]
name = "geo"
numbers = [
  { number = "+12025550111" },                     # DC, area 202
  { number = "+12025550112" },                     # DC, area 202
  { number = "+16465550100" },                     # NY, area 646
  { number = "+13125550100", cooldown_seconds = 60 },  # IL, area 312
]

[[pool]]
name = "mobile"
type = "mobile"
numbers = [{ number = "+12025550190" }, { number = "+12025550191" }]

[[pool]]
name = "main"
numbers = [{ number = "+18005550100", daily_cap = 1000 }]
""",
    "numbers.toml",
)
RULE = CallerIdRule(pools=("geo",), mobile="mobile", fallback="main")


def pick(debtor: str, rule: CallerIdRule = RULE, usage=None, recent=None, *, mobile=False):
    place = place_of(debtor)
    if mobile:
        place = type(place)(place.country, place.area, place.region, True)
    return pick_caller_id(place, rule, POOLS, usage or {}, now=NOW, recent_to_debtor=recent)


# ---------------------------------------------------------------------- geography


def test_places_of_numbers():
    assert place_of("+12125550123").area == "1-212"
    assert place_of("+12125550123").region == "US-NY"
    assert place_of("+16465550100").region == "US-NY"  # "New York": a state name
    assert place_of("+12025550111").region == "US-DC"
    assert place_of("+442079460000").region == "GB-London"
    assert place_of("+48601234567").mobile and not place_of("+48601234567").area
    assert place_of("not a number").country == ""


# ---------------------------------------------------------------------- tiers


def test_a_debtor_in_an_area_we_have_gets_a_number_of_his_area():
    choice = pick("+12025550177")
    assert choice.tier == "area" and choice.number.e164 == "+12025550111"


def test_a_debtor_in_another_area_of_the_same_state_gets_a_number_of_his_state():
    choice = pick("+12125550123")  # Manhattan 212: we have only 646, also New York
    assert (choice.tier, choice.number.e164) == ("region", "+16465550100")


def test_a_debtor_where_we_have_nothing_gets_the_fallback():
    choice = pick("+14155550100")  # San Francisco
    assert (choice.tier, choice.number.e164) == ("fallback", "+18005550100")
    no_fallback = CallerIdRule(pools=("geo",))
    assert pick("+14155550100", no_fallback).number.pool == "geo"


def test_a_debtor_on_a_mobile_gets_a_mobile_number_when_the_campaign_has_them():
    assert pick("+12025550177", mobile=True).tier == "mobile"
    assert pick("+12025550177", CallerIdRule(pools=("geo",)), mobile=True).tier == "area"


# ---------------------------------------------------------------------- rotation and limits


def test_least_recently_used_goes_round_the_area_numbers():
    usage = {"+12025550111": Usage(last_used=NOW - timedelta(minutes=1), day="2026-11-24")}
    assert pick("+12025550177", usage=usage).number.e164 == "+12025550112"  # never used first
    usage["+12025550112"] = Usage(last_used=NOW - timedelta(minutes=5), day="2026-11-24")
    assert pick("+12025550177", usage=usage).number.e164 == "+12025550112"  # the older one


def test_round_robin_takes_the_next_in_file_order():
    rule = CallerIdRule(pools=("geo",), rotation="round_robin")
    usage = {"+12025550112": Usage(last_used=NOW - timedelta(minutes=1))}
    # area 202 tier: 0111, 0112; 0112 was used last -> wrap to 0111
    assert pick("+12025550177", rule, usage).number.e164 == "+12025550111"
    usage["+12025550111"] = Usage(last_used=NOW)
    assert pick("+12025550177", rule, usage).number.e164 == "+12025550112"


def test_a_capped_number_waits_until_tomorrow():
    today = {
        "+12025550111": Usage(day="2026-11-24", used_today=3, last_used=NOW),
        "+12025550112": Usage(day="2026-11-24", used_today=3, last_used=NOW),
    }
    assert pick("+12025550177", usage=today).tier == "fallback"  # DC has no other number
    yesterday = {e: Usage(day="2026-11-23", used_today=3, last_used=NOW) for e in today}
    assert pick("+12025550177", usage=yesterday).tier == "area"


def test_cool_down_between_calls_from_one_number():
    usage = {"+13125550100": Usage(last_used=NOW - timedelta(seconds=30))}
    assert pick("+13125550111", usage=usage).tier == "fallback"  # only 312 number cooling
    usage["+13125550100"].last_used = NOW - timedelta(seconds=61)
    assert pick("+13125550111", usage=usage).tier == "area"


def test_never_the_same_number_twice_to_one_debtor_within_n_days():
    rule = CallerIdRule(pools=("geo",), fallback="main", not_same_within=timedelta(days=7))
    recent = {"+12025550111": NOW - timedelta(days=2)}
    assert pick("+12025550177", rule, recent=recent).number.e164 == "+12025550112"
    recent["+12025550112"] = NOW - timedelta(days=6)
    assert pick("+12025550177", rule, recent=recent).tier == "fallback"
    recent = {e: NOW - timedelta(days=8) for e in recent}
    assert pick("+12025550177", rule, recent=recent).tier == "area"


def test_rested_numbers_are_left_alone_until_their_rest_ends():
    usage = {
        "+12025550111": Usage(rested_until=NOW + timedelta(hours=1)),
        "+12025550112": Usage(rested_until=NOW + timedelta(hours=1)),
    }
    assert pick("+12025550177", usage=usage).tier != "area"
    usage = {e: Usage(rested_until=NOW - timedelta(seconds=1)) for e in usage}
    assert pick("+12025550177", usage=usage).tier == "area"


def test_nothing_usable_gives_none():
    rule = CallerIdRule(pools=("geo",))
    usage = {n.e164: Usage(day="2026-11-24", used_today=99) for n in POOLS.numbers()}
    assert pick("+12025550177", rule, usage) is None
    assert pick("+12025550177", CallerIdRule(pools=("no-such-pool",))) is None


@settings(max_examples=200, deadline=None)
@given(
    debtor=st.sampled_from(
        ["+12025550177", "+12125550123", "+14155550100", "+442079460000", "+48601234567", "x"]
    ),
    used=st.dictionaries(
        st.sampled_from([n.e164 for n in POOLS.numbers()]),
        st.tuples(st.integers(0, 5), st.integers(0, 7200)),
    ),
    mobile=st.booleans(),
    rotation=st.sampled_from(["least_recently_used", "round_robin"]),
)
def test_a_choice_is_always_a_usable_number_of_the_campaigns_pools(debtor, used, mobile, rotation):
    rule = CallerIdRule(pools=("geo",), mobile="mobile", fallback="main", rotation=rotation)
    usage = {
        e: Usage(day="2026-11-24", used_today=n, last_used=NOW - timedelta(seconds=ago))
        for e, (n, ago) in used.items()
    }
    choice = pick(debtor, rule, usage, mobile=mobile)
    if choice is None:
        return
    number = choice.number
    assert number.pool in ("geo", "mobile", "main")
    assert usage.get(number.e164, Usage()).count_on(NOW) < number.daily_cap
    if number.e164 in usage and number.cooldown_seconds:
        assert (NOW - usage[number.e164].last_used).total_seconds() >= number.cooldown_seconds


# ---------------------------------------------------------------------- health


def test_a_number_whose_answer_rate_collapses_is_rested_and_reported():
    stats = {
        "+12025550111": (100, 30),
        "+12025550112": (100, 28),
        "+16465550100": (100, 5),  # labelled as spam, likely
        "+13125550100": (10, 0),  # too few calls to judge
    }
    [rest] = assess_health(POOLS, stats, POOLS.health, NOW)
    assert rest.e164 == "+16465550100"
    assert rest.until == NOW + timedelta(days=2)
    assert "5.0%" in rest.reason and "'geo'" in rest.reason
    assert assess_health(POOLS, {"+12025550111": (100, 1)}, POOLS.health, NOW) == []


# ---------------------------------------------------------------------- the file


def test_the_file_gives_each_number_its_settings():
    numbers = POOLS.by_number()
    assert numbers["+12025550111"].daily_cap == 3  # from [defaults]
    assert numbers["+18005550100"].daily_cap == 1000
    assert numbers["+13125550100"].cooldown_seconds == 60
    assert numbers["+12025550190"].place.mobile  # the pool says mobile
    assert POOLS.health.min_attempts == 50


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[pool]]\nname = 'a'\nnumbers = [{ number = '2025550111' }]\n", r":3: .*E\.164"),
        ("[[pool]]\nname = 'a'\nnumbers = [{ number = '+1202' }]\n", r":3: .*not a possible"),
        ("[[pool]]\nname = 'a'\nnumbers = [{ numbr = '+12025550111' }]\n", r":3: .*unknown key"),
        ("[defaults]\ndaily_cap = -1\n", r":2: defaults.daily_cap"),
        ("[[pool]]\nname = 'a'\nnumbers = [\n", "not valid TOML"),
        (
            "[[pool]]\nname = 'a'\nnumbers = [{ number = '+12025550111' }]\n"
            "[[pool]]\nname = 'b'\nnumbers = [{ number = '+12025550111' }]\n",
            r":6: \+12025550111 is in pool 'a' already",
        ),
    ],
)
def test_a_bad_file_is_refused_with_its_line(text, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_pools(text, "numbers.toml")


def test_the_shipped_example_file_is_valid():
    from pathlib import Path

    from pbx_engine.callerid.pools import load_pools

    example = load_pools(Path(__file__).parents[2] / "docker" / "numbers.example.toml")
    assert set(example.pools) == {"us-geo", "us-mobile", "us-main"}
    assert all(n.trunk == "pstn" for n in example.numbers())
