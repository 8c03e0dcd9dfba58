"""The website widget's rules: a call back only to a number on a case, capped per address and
per number, at a time from now to two weeks ahead."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.agents.browser_phones import is_widget_ticket, ticket_case, widget_ticket
from pbx_engine.payments.links import make_pay_token
from pbx_engine.widget.links import CaseLinkError, make_case_token, read_case_token
from pbx_engine.widget.rules import (
    MAX_AHEAD,
    WidgetCounts,
    WidgetLimits,
    callback_due,
    decide_call_now,
    decide_callback,
)

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
LIMITS = WidgetLimits(per_address_per_hour=5, per_number_per_day=2)


NONE_YET = WidgetCounts()


def _decide(counts=NONE_YET, *, found=True, on_case=True, due=None):
    return decide_callback(
        counts, LIMITS, case_found=found, number_on_case=on_case, due_at=due, now=NOW
    )


def test_given_a_debtor_on_record_asking_for_tomorrow_then_the_call_back_is_promised():
    decision = _decide(due=NOW + timedelta(days=1))
    assert (decision.allowed, decision.status) == (True, 202)


def test_given_a_number_on_no_case_then_nobody_is_called():
    decision = _decide(found=False)
    assert (decision.allowed, decision.reason, decision.status) == (False, "unknown_number", 404)


def test_given_a_signed_link_and_someone_elses_number_then_it_is_refused():
    assert _decide(on_case=False).reason == "not_his_number"


def test_given_a_busy_address_or_number_then_the_caps_refuse_first():
    assert _decide(WidgetCounts(by_address=5), found=False).reason == "address_rate"
    assert _decide(WidgetCounts(by_number=2)).reason == "number_rate"
    assert _decide(WidgetCounts(by_address=4, by_number=1)).allowed


def test_given_a_time_too_far_or_past_then_it_is_refused_and_a_moment_ago_is_now():
    assert _decide(due=NOW + MAX_AHEAD + timedelta(minutes=1)).reason == "when"
    assert _decide(due=NOW - timedelta(hours=1)).reason == "when"
    moment_ago = NOW - timedelta(minutes=2)
    assert _decide(due=moment_ago).allowed
    assert callback_due(moment_ago, NOW) == NOW
    assert callback_due(None, NOW) == NOW
    assert callback_due(NOW + timedelta(hours=3), NOW) == NOW + timedelta(hours=3)


@given(
    by_address=st.integers(0, 9),
    by_number=st.integers(0, 9),
    found=st.booleans(),
    on_case=st.booleans(),
    minutes=st.none() | st.integers(-60 * 24, 60 * 24 * 20),
)
def test_given_any_request_then_it_is_allowed_exactly_when_every_rule_passes(
    by_address, by_number, found, on_case, minutes
):
    due = None if minutes is None else NOW + timedelta(minutes=minutes)
    decision = _decide(WidgetCounts(by_address, by_number), found=found, on_case=on_case, due=due)
    in_time = minutes is None or -5 <= minutes <= 14 * 24 * 60
    expected = by_address < 5 and by_number < 2 and found and on_case and in_time
    assert decision.allowed is expected
    assert decision.message and decision.status in ((202,) if expected else (404, 422, 429))


def test_given_a_case_link_then_it_names_its_case_until_it_expires():
    secret = b"s" * 32
    token = make_case_token(42, NOW + timedelta(days=1), secret)
    assert read_case_token(token, secret, NOW) == 42
    with pytest.raises(CaseLinkError, match="expired"):
        read_case_token(token, secret, NOW + timedelta(days=1))
    with pytest.raises(CaseLinkError, match="not valid"):
        read_case_token(token, b"t" * 32, NOW)
    with pytest.raises(CaseLinkError, match="not a link of ours"):
        read_case_token("nonsense", secret, NOW)


def test_given_a_payment_link_then_it_is_no_widget_link():
    secret = b"s" * 32
    pay = make_pay_token(42, NOW + timedelta(days=1), secret)
    with pytest.raises(CaseLinkError, match="not valid"):
        read_case_token(pay, secret, NOW)


def test_given_a_call_from_the_page_then_only_the_address_cap_applies():
    assert decide_call_now(WidgetCounts(by_address=4, by_number=9), LIMITS).allowed
    refused = decide_call_now(WidgetCounts(by_address=5), LIMITS)
    assert (refused.allowed, refused.reason, refused.status) == (False, "address_rate", 429)


def test_given_a_widget_callers_ticket_then_it_carries_the_case_the_engine_found():
    assert ticket_case(widget_ticket(42)) == 42
    assert ticket_case(widget_ticket(None)) is None
    assert ticket_case("an-invitation-id") is None
    assert ticket_case("12345") is None  # an invitation id is never a widget ticket


def test_given_a_guest_phones_ticket_then_only_the_widgets_count_as_widget_callers():
    assert is_widget_ticket(widget_ticket(42)) and is_widget_ticket(widget_ticket(None))
    for ticket in (None, "", "12345", "widgets:1", "room:widget:1"):
        assert not is_widget_ticket(ticket)
