"""Compliance decisions: windows in local time, caps, cool-offs, DNC, every profile."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pbx_engine.compliance import PROFILES, CallingWindow, PastAttempt, may_dial, profile
from pbx_engine.compliance.policy import next_window_open
from pbx_engine.compliance.timezones import UnknownTimezone, debtor_zones

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
PARIS = ZoneInfo("Europe/Paris")
LONDON = ZoneInfo("Europe/London")
US = PROFILES["us"]


def at(zone, *args) -> datetime:
    return datetime(*args, tzinfo=zone).astimezone(UTC)


def test_given_a_clean_history_inside_the_window_when_asked_then_the_call_is_allowed():
    now = at(NY, 2026, 11, 23, 10, 0)
    decision = may_dial(US, now=now, zones=[NY], history=[])
    assert decision.allowed and decision.reason == "ok" and decision.not_before == now


def test_given_the_do_not_call_list_when_asked_then_never():
    decision = may_dial(US, now=at(NY, 2026, 11, 23, 10), zones=[NY], history=[], do_not_call=True)
    assert not decision.allowed
    assert decision.not_before is None
    assert "do-not-call" in decision.reason


@pytest.mark.parametrize(
    ("local", "expected_open"),
    [
        ((2026, 11, 23, 7, 59), (2026, 11, 23, 8, 0)),
        ((2026, 11, 23, 21, 0), (2026, 11, 24, 8, 0)),  # the end is exclusive
        ((2026, 11, 23, 23, 30), (2026, 11, 24, 8, 0)),
        ((2026, 11, 24, 3, 0), (2026, 11, 24, 8, 0)),
    ],
)
def test_given_a_time_outside_the_us_window_when_asked_then_it_waits_for_8_local(
    local, expected_open
):
    decision = may_dial(US, now=at(NY, *local), zones=[NY], history=[])
    assert not decision.allowed
    assert decision.reason == "outside the calling window"
    assert decision.not_before == at(NY, *expected_open)


def test_given_a_number_spanning_two_zones_when_asked_then_the_window_must_hold_in_both():
    # 8:30 in New York is 5:30 in Los Angeles: wait for 8:00 in Los Angeles.
    decision = may_dial(US, now=at(NY, 2026, 11, 23, 8, 30), zones=[NY, LA], history=[])
    assert decision.not_before == at(LA, 2026, 11, 23, 8, 0)
    # 20:30 in Los Angeles is 23:30 in New York: tomorrow, 8:00 in Los Angeles again.
    decision = may_dial(US, now=at(LA, 2026, 11, 23, 20, 30), zones=[NY, LA], history=[])
    assert decision.not_before == at(LA, 2026, 11, 24, 8, 0)


def test_given_seven_calls_in_seven_days_when_asked_then_the_oldest_must_age_out():
    now = at(NY, 2026, 11, 23, 12, 0)
    history = [PastAttempt(now - timedelta(days=6, minutes=i)) for i in range(7)]
    decision = may_dial(US, now=now, zones=[NY], history=history)
    assert not decision.allowed
    assert decision.reason == "attempt cap reached"
    oldest = min(a.at for a in history)
    assert decision.not_before == oldest + timedelta(days=7)


def test_given_six_calls_in_seven_days_when_asked_then_one_more_is_allowed():
    now = at(NY, 2026, 11, 23, 12, 0)
    history = [PastAttempt(now - timedelta(days=1, hours=i)) for i in range(6)]
    history.append(PastAttempt(now - timedelta(days=8)))  # outside the rolling window
    assert may_dial(US, now=now, zones=[NY], history=history).allowed


def test_given_the_cap_frees_at_night_when_asked_then_it_waits_for_the_window_too():
    now = at(NY, 2026, 11, 23, 12, 0)
    history = [PastAttempt(at(NY, 2026, 11, 16, 22, 0) + timedelta(minutes=i)) for i in range(7)]
    decision = may_dial(US, now=now, zones=[NY], history=history)
    # The cap frees at 22:00 on the 23rd, after the window closed: 8:00 on the 24th.
    assert decision.reason == "attempt cap reached"
    assert decision.not_before == at(NY, 2026, 11, 24, 8, 0)


def test_given_a_conversation_three_days_ago_when_asked_under_regulation_f_then_wait_seven():
    now = at(NY, 2026, 11, 23, 12, 0)
    talked = now - timedelta(days=3)
    decision = may_dial(US, now=now, zones=[NY], history=[PastAttempt(talked, conversation=True)])
    assert decision.reason == "cool-off after a conversation"
    assert decision.not_before == talked + timedelta(days=7)


def test_given_an_abandoned_call_when_asked_under_ofcom_then_no_redial_for_72_hours():
    uk = PROFILES["uk"]
    now = at(LONDON, 2026, 11, 23, 12, 0)
    abandoned = now - timedelta(hours=2)
    history = [PastAttempt(abandoned, abandoned=True)]
    decision = may_dial(uk, now=now, zones=[LONDON], history=history)
    assert decision.reason == "no redial after an abandoned call"
    assert decision.not_before == abandoned + timedelta(hours=72)
    later = may_dial(
        uk,
        now=abandoned + timedelta(hours=72),
        zones=[LONDON],
        history=[PastAttempt(abandoned, abandoned=True)],
    )
    assert later.allowed
    # The US profile has no such rule.
    assert may_dial(
        US,
        now=at(NY, 2026, 11, 23, 12),
        zones=[NY],
        history=[PastAttempt(now - timedelta(hours=1), abandoned=True)],
    ).allowed


@pytest.mark.parametrize(
    ("local", "allowed", "opens"),
    [
        ((2026, 11, 23, 10, 0), True, None),  # Monday morning
        ((2026, 11, 23, 13, 30), False, (2026, 11, 23, 14, 0)),  # lunch break
        ((2026, 11, 23, 20, 0), False, (2026, 11, 24, 10, 0)),
        ((2026, 11, 27, 20, 30), False, (2026, 11, 30, 10, 0)),  # Friday evening -> Monday
        ((2026, 11, 28, 11, 0), False, (2026, 11, 30, 10, 0)),  # Saturday
    ],
)
def test_given_the_french_decree_when_asked_then_weekdays_10_13_and_14_20(local, allowed, opens):
    decision = may_dial(PROFILES["fr"], now=at(PARIS, *local), zones=[PARIS], history=[])
    assert decision.allowed is allowed
    if opens:
        assert decision.not_before == at(PARIS, *opens)


def test_given_four_calls_in_thirty_days_in_france_when_asked_then_no_fifth():
    now = at(PARIS, 2026, 11, 23, 10, 0)
    history = [PastAttempt(now - timedelta(days=d)) for d in (1, 8, 15, 29)]
    decision = may_dial(PROFILES["fr"], now=now, zones=[PARIS], history=history)
    assert decision.reason == "attempt cap reached"
    assert decision.not_before == at(PARIS, 2026, 11, 24, 10, 0)  # 29 days ago + 30 days


def test_given_the_plain_profile_when_asked_at_night_then_only_dnc_counts():
    plain = PROFILES["plain"]
    assert may_dial(
        plain,
        now=at(NY, 2026, 11, 23, 3, 0),
        zones=[NY],
        history=[PastAttempt(at(NY, 2026, 11, 23, 2, 0))] * 50,
    ).allowed


def test_given_a_dst_change_when_the_window_opens_then_local_time_is_respected():
    # 2026-11-01 01:30 New York: clocks went back at 2:00; the window opens at 8:00 EST.
    decision = may_dial(US, now=at(NY, 2026, 11, 1, 1, 30), zones=[NY], history=[])
    assert decision.not_before == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)


def test_given_zones_whose_windows_never_overlap_when_asked_then_never():
    narrow = US.adjusted(windows=(CallingWindow(frozenset(range(7)), time(9), time(10)),))
    decision = may_dial(
        narrow, now=at(NY, 2026, 11, 23, 9, 0), zones=[NY, ZoneInfo("Asia/Tokyo")], history=[]
    )
    assert not decision.allowed and decision.not_before is None


def test_given_an_operator_adjusts_a_profile_when_asked_then_the_adjustment_applies():
    strict = US.adjusted(max_attempts=2)
    now = at(NY, 2026, 11, 23, 12)
    history = [PastAttempt(now - timedelta(hours=h)) for h in (1, 2)]
    assert not may_dial(strict, now=now, zones=[NY], history=history).allowed
    assert may_dial(US, now=now, zones=[NY], history=history).allowed


def test_naive_times_and_empty_zones_are_programming_errors():
    with pytest.raises(ValueError):
        may_dial(US, now=datetime(2026, 11, 23, 12), zones=[NY], history=[])
    with pytest.raises(ValueError):
        may_dial(US, now=at(NY, 2026, 11, 23, 12), zones=[], history=[])


def test_unknown_profiles_and_bad_windows_are_refused_clearly():
    with pytest.raises(KeyError, match="known: fr, plain, uk, us"):
        profile("de")
    with pytest.raises(ValueError, match="ends before it starts"):
        CallingWindow(frozenset({0}), time(20), time(8))
    with pytest.raises(ValueError, match="weekdays"):
        CallingWindow(frozenset({7}), time(8), time(9))


def test_window_search_inside_an_open_window_returns_the_moment_itself():
    now = at(NY, 2026, 11, 23, 12)
    assert next_window_open(US.windows, [NY], now) == now


@pytest.mark.parametrize(
    ("case_tz", "number", "expected"),
    [
        ("Europe/Warsaw", "+12025550100", ("Europe/Warsaw",)),
        (None, "+12025550100", ("America/New_York",)),
        (None, "+48600100200", ("Europe/Warsaw",)),
        (None, "not a number", ("Europe/London",)),
    ],
)
def test_debtor_zones_prefer_the_case_then_the_number_then_the_fallback(case_tz, number, expected):
    zones = debtor_zones(case_tz, number, "Europe/London")
    assert tuple(z.key for z in zones) == expected


def test_an_unknown_zone_name_is_a_clear_error():
    with pytest.raises(UnknownTimezone, match="Mars/Olympus"):
        debtor_zones("Mars/Olympus", "+12025550100", "UTC")


def test_given_a_french_public_holiday_when_asked_then_wait_for_the_next_working_day():
    fr = PROFILES["fr"]
    # Tuesday 14 July 2026, 11:00 in Paris: inside the weekday window, but Bastille Day.
    decision = may_dial(fr, now=at(PARIS, 2026, 7, 14, 11, 0), zones=[PARIS], history=[])
    assert not decision.allowed
    assert decision.reason == "a public holiday"
    assert decision.not_before == at(PARIS, 2026, 7, 15, 10, 0)
    # Friday 25 December 2026: Christmas, then the weekend: Monday the 28th at 10:00.
    christmas = may_dial(fr, now=at(PARIS, 2026, 12, 25, 9, 0), zones=[PARIS], history=[])
    assert christmas.not_before == at(PARIS, 2026, 12, 28, 10, 0)


def test_given_holidays_switched_on_or_off_by_an_operator_then_they_apply_or_not():
    us_with_holidays = PROFILES["us"].adjusted(holidays="US")
    # Thursday 26 November 2026 is Thanksgiving.
    thanksgiving = at(NY, 2026, 11, 26, 10, 0)
    assert may_dial(PROFILES["us"], now=thanksgiving, zones=[NY], history=[]).allowed
    decision = may_dial(us_with_holidays, now=thanksgiving, zones=[NY], history=[])
    assert decision.reason == "a public holiday"
    assert decision.not_before == at(NY, 2026, 11, 27, 8, 0)
    fr_without = PROFILES["fr"].adjusted(holidays=None)
    assert may_dial(
        fr_without, now=at(PARIS, 2026, 7, 14, 11, 0), zones=[PARIS], history=[]
    ).allowed
