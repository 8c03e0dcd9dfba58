"""Whether a message may go now: the first rule against it, in the words the history keeps."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.compliance.profiles import profile
from pbx_engine.messaging.consent import Channel, Consent, ConsentEntry, Source
from pbx_engine.messaging.rules import MessageAsk, MessageBudget, why_not

NEW_YORK = (ZoneInfo("America/New_York"),)
AFTERNOON = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)  # 15:00 in New York
US = profile("us").windows
ASK = MessageAsk(Channel.SMS, "+12025550142", "open", None)


def decide(ask=ASK, consent=(), now=AFTERNOON, zones=NEW_YORK):
    return why_not(ask, consent, now, windows=US, zones=zones)


def test_given_nothing_against_it_then_the_message_goes():
    assert decide() is None


@pytest.mark.parametrize(
    ("ask", "rule"),
    [
        (
            MessageAsk(Channel.SMS, "+1", "dispute", None),
            "the case is disputed: messages stop",
        ),
        (MessageAsk(Channel.SMS, "+1", "closed", None), "the case is closed: messages stop"),
        (MessageAsk(Channel.SMS, None, "open", None), "the case has no mobile number"),
        (MessageAsk(Channel.EMAIL, None, "open", None), "the case has no e-mail address"),
        (MessageAsk(Channel.EMAIL, "a@b.cd", "open", "no template"), "no template"),
    ],
)
def test_given_a_case_that_cannot_be_written_to_then_the_rule_says_why(ask, rule):
    assert decide(ask) == rule


def test_given_a_revocation_then_it_is_named_and_a_later_grant_lifts_it():
    stop = ConsentEntry(
        "+12025550142", frozenset({Channel.SMS}), Consent.REVOKED, Source.SMS_REPLY,
        AFTERNOON - timedelta(days=1),
    )  # fmt: skip
    assert decide(consent=[stop]) == "revoked by sms_reply on 2026-12-02 20:00 UTC"
    start = ConsentEntry(
        "+12025550142", frozenset({Channel.SMS}), Consent.GRANTED, Source.SMS_REPLY,
        AFTERNOON - timedelta(hours=1),
    )  # fmt: skip
    assert decide(consent=[stop, start]) is None


@pytest.mark.parametrize(
    ("now", "next_open"),
    [
        (datetime(2026, 12, 4, 2, 30, tzinfo=UTC), "2026-12-04 08:00 EST"),  # 21:30
        (datetime(2026, 12, 4, 12, 59, tzinfo=UTC), "2026-12-04 08:00 EST"),  # 07:59
    ],
)
def test_given_an_hour_outside_the_profile_then_the_next_allowed_hour_is_named(now, next_open):
    assert decide(now=now) == f"outside the hours a debtor may be written to (next: {next_open})"


def test_given_a_debtor_in_two_zones_then_the_message_waits_for_an_hour_fine_in_both():
    # 15:00 in New York is 05:00 in Tokyo; both are past 8 am at 23:00 UTC (18:00 in New York).
    both = (ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo"))
    assert decide(zones=both) == (
        "outside the hours a debtor may be written to (next: 2026-12-03 18:00 EST)"
    )


def budget(cap: int, *ages_hours: float, days: float = 7) -> MessageBudget:
    return MessageBudget(
        cap, timedelta(days=days), [AFTERNOON - timedelta(hours=h) for h in ages_hours]
    )


def test_given_a_budget_with_room_then_the_message_goes():
    assert why_not(ASK, [], AFTERNOON, windows=US, zones=NEW_YORK, budget=budget(2, 5)) is None


def test_given_a_spent_budget_then_the_rule_names_it_and_when_one_more_may_go():
    spent = budget(2, 5, 30)
    assert why_not(ASK, [], AFTERNOON, windows=US, zones=NEW_YORK, budget=spent) == (
        "contact budget: 2 message(s) to the case in 7 days already (next: 2026-12-09 14:00 UTC)"
    )


def test_given_messages_older_than_the_period_then_they_do_not_count():
    assert budget(1, 7 * 24, 9 * 24).frees_at(AFTERNOON) is None
    assert budget(1, 7 * 24 - 1).frees_at(AFTERNOON) == AFTERNOON + timedelta(hours=1)


def test_given_messages_in_the_future_then_they_do_not_count():
    assert budget(1, -2).frees_at(AFTERNOON) is None


def test_given_the_case_disputed_then_that_is_named_before_the_budget():
    disputed = MessageAsk(Channel.SMS, "+12025550142", "dispute", None)
    assert why_not(disputed, [], AFTERNOON, windows=US, zones=NEW_YORK, budget=budget(1, 1)) == (
        "the case is disputed: messages stop"
    )


@given(
    st.integers(min_value=1, max_value=5),
    st.lists(st.integers(min_value=0, max_value=14 * 24 * 60), max_size=12),
)
def test_given_any_history_then_one_more_fits_exactly_when_the_budget_says(cap, ages_minutes):
    spent = MessageBudget(
        cap, timedelta(days=7), [AFTERNOON - timedelta(minutes=m) for m in ages_minutes]
    )

    def in_period(at):
        return sum(1 for sent in spent.sent if at - spent.period < sent <= at)

    frees = spent.frees_at(AFTERNOON)
    if frees is None:
        assert in_period(AFTERNOON) < cap
    else:
        assert in_period(AFTERNOON) >= cap
        assert in_period(frees) < cap  # room from that moment
        assert in_period(frees - timedelta(seconds=1)) >= cap  # and not a moment before
