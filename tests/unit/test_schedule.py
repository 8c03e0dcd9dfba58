"""Choosing the next calls of a campaign: retries per outcome, compliance, priority."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.cases.models import AttemptRecord, CaseCandidate, NumberHistory
from pbx_engine.dialer.schedule import CallPlan, plan_calls

NOW = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # 12:00 in New York
CAMPAIGN = CampaignConfig(
    name="c",
    compliance="us",
    fallback_timezone="America/New_York",
    retry={"busy": {"after_minutes": 15, "max_attempts": 3}},
)


def attempt(minutes_ago: float, outcome: str, **kw) -> AttemptRecord:
    at = NOW - timedelta(minutes=minutes_ago)
    return AttemptRecord(at=at, ended_at=at + timedelta(seconds=30), outcome=outcome, **kw)


def case(case_id=1, numbers=None, **kw) -> CaseCandidate:
    numbers = numbers or (NumberHistory(10 * case_id, f"+1202555{case_id:04d}"),)
    return CaseCandidate(case_id=case_id, numbers=tuple(numbers), **kw)


def test_given_a_fresh_case_when_planned_then_its_first_number_is_called():
    plans, deferred = plan_calls([case()], CAMPAIGN, NOW, limit=10)
    assert plans == [CallPlan(1, 10, "+12025550001")] and deferred == []


def test_given_a_busy_line_15_minutes_ago_then_retry_but_not_after_5():
    recent = case(numbers=[NumberHistory(10, "+12025550001", attempts=(attempt(5, "busy"),))])
    plans, [waiting] = plan_calls([recent], CAMPAIGN, NOW, limit=10)
    assert plans == []
    assert waiting.reason == "waiting to retry"
    assert waiting.not_before == NOW - timedelta(minutes=5) + timedelta(seconds=30, minutes=15)

    older = case(numbers=[NumberHistory(10, "+12025550001", attempts=(attempt(20, "busy"),))])
    assert plan_calls([older], CAMPAIGN, NOW, limit=10)[0] == [CallPlan(1, 10, "+12025550001")]


def test_given_retries_used_up_on_one_number_then_the_next_number_is_called():
    busy3 = tuple(attempt(60 * (i + 1), "busy") for i in range(3))
    numbers = [NumberHistory(10, "+12025550001", 0, busy3), NumberHistory(11, "+12025550002", 1)]
    plans, _ = plan_calls([case(numbers=numbers)], CAMPAIGN, NOW, limit=10)
    assert plans == [CallPlan(1, 11, "+12025550002")]


def test_given_every_number_exhausted_then_the_case_is_left_alone_for_good():
    busy3 = tuple(attempt(60 * (i + 1), "busy") for i in range(3))
    _, [left] = plan_calls(
        [case(numbers=[NumberHistory(10, "+12025550001", 0, busy3)])], CAMPAIGN, NOW, limit=10
    )
    assert left.reason == "every number has used up its retries" and left.not_before is None


def test_given_a_call_in_progress_then_the_case_is_not_dialled_twice():
    live = AttemptRecord(at=NOW, ended_at=None, outcome="pending")
    _, [left] = plan_calls(
        [case(numbers=[NumberHistory(10, "+12025550001", attempts=(live,))])],
        CAMPAIGN,
        NOW,
        limit=10,
    )
    assert left.reason == "a call is in progress"


def test_given_night_in_the_debtors_zone_then_the_case_waits_for_the_window():
    night = NOW.replace(hour=5)  # midnight in New York
    _, [left] = plan_calls([case()], CAMPAIGN, night, limit=10)
    assert left.reason == "outside the calling window"
    assert left.not_before == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def test_given_a_case_timezone_then_it_wins_over_the_number():
    night_in_la = NOW.replace(hour=15)  # 10:00 in New York, 7:00 in Los Angeles
    plans, [left] = plan_calls(
        [case(timezone="America/Los_Angeles")], CAMPAIGN, night_in_la, limit=10
    )
    assert plans == [] and left.reason == "outside the calling window"


def test_given_seven_attempts_in_seven_days_then_regulation_f_holds_the_case():
    week = tuple(attempt(60 * 20 * (i + 1), "no_answer") for i in range(7))
    numbers = [
        NumberHistory(10, "+12025550001", attempts=week[:4]),
        NumberHistory(11, "+12025550002", attempts=week[4:]),
    ]
    _, [left] = plan_calls([case(numbers=numbers)], CAMPAIGN, NOW, limit=10)
    assert left.reason == "attempt cap reached"


def test_given_a_person_was_reached_then_the_number_waits_for_the_disposition():
    reached = attempt(60 * 24 * 8, "human", conversation=True)
    _, [left] = plan_calls(
        [case(numbers=[NumberHistory(10, "+12025550001", attempts=(reached,))])],
        CAMPAIGN,
        NOW,
        limit=10,
    )
    assert left.reason == "every number has used up its retries"


def test_given_a_scheduled_callback_then_the_case_waits_for_it():
    later = NOW + timedelta(hours=2)
    _, [left] = plan_calls([case(next_call_at=later)], CAMPAIGN, NOW, limit=10)
    assert left.not_before == later


def test_given_do_not_call_numbers_then_they_are_skipped():
    numbers = [
        NumberHistory(10, "+12025550001", do_not_call=True),
        NumberHistory(11, "+12025550002"),
    ]
    assert plan_calls([case(numbers=numbers)], CAMPAIGN, NOW, 10)[0] == [
        CallPlan(1, 11, "+12025550002")
    ]
    only_dnc = [NumberHistory(10, "+12025550001", do_not_call=True)]
    _, [left] = plan_calls([case(numbers=only_dnc)], CAMPAIGN, NOW, 10)
    assert "do-not-call" in left.reason


def test_given_calls_revoked_in_the_consent_ledger_then_that_number_is_not_called():
    numbers = [
        NumberHistory(10, "+12025550001", calls_revoked=True),
        NumberHistory(11, "+12025550002"),
    ]
    assert plan_calls([case(numbers=numbers)], CAMPAIGN, NOW, 10)[0] == [
        CallPlan(1, 11, "+12025550002")
    ]


@pytest.mark.parametrize(
    ("untils", "not_before"),
    [
        ([NOW + timedelta(days=60)], NOW + timedelta(days=60)),  # a refusal's quiet time
        ([NOW + timedelta(days=9), NOW + timedelta(days=3)], NOW + timedelta(days=3)),
        ([NOW + timedelta(days=3), None], None),  # one revoked for good: until he says yes
    ],
)
def test_given_every_number_revoked_then_the_case_waits_for_the_first_revocation_to_end(
    untils, not_before
):
    numbers = [
        NumberHistory(10 + i, f"+1202555000{i}", calls_revoked=True, calls_revoked_until=until)
        for i, until in enumerate(untils)
    ]
    plans, [left] = plan_calls([case(numbers=numbers)], CAMPAIGN, NOW, 10)
    assert plans == []
    assert (left.reason, left.not_before) == ("calls revoked in the consent ledger", not_before)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (["oldest_debt"], [2, 1, 3]),
        (["largest_amount"], [3, 1, 2]),
        (["oldest_debt", "largest_amount"], [2, 1, 3]),
    ],
)
def test_priority_orders_the_plans_and_limit_cuts_them(order, expected):
    campaign = CAMPAIGN.model_copy(update={"order": order})
    cases = [
        case(1, amount_owed=Decimal(500), due_date=date(2026, 5, 1)),
        case(2, amount_owed=Decimal(100), due_date=date(2026, 1, 1)),
        case(3, amount_owed=Decimal(900), due_date=None),
    ]
    plans, _ = plan_calls(cases, campaign, NOW, limit=3)
    assert [p.case_id for p in plans] == expected
    assert len(plan_calls(cases, campaign, NOW, limit=2)[0]) == 2


def test_campaign_files_refuse_unknown_policies_and_holiday_countries():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown policy 'psychic'"):
        CampaignConfig(name="x", pacing="psychic")
    with pytest.raises(ValidationError, match="no public holidays known for country 'XX'"):
        CampaignConfig(name="x", compliance_overrides={"holidays": "XX"})
    off = CampaignConfig(name="x", compliance="fr", compliance_overrides={"holidays": ""})
    assert off.compliance_profile().holidays is None
    us = CampaignConfig(name="x", compliance="us", compliance_overrides={"holidays": "US"})
    assert us.compliance_profile().holidays == "US"


def test_given_a_call_asterisk_refused_before_it_rang_then_it_counts_toward_no_retry_rule():
    # Busy 20 minutes ago (due again after 15), then refused by a stopping Asterisk a minute
    # ago: the refusal neither restarts the busy rule's clock nor is the "last outcome".
    history = (attempt(20, "busy"), attempt(1, "not_placed"))
    plans, deferred = plan_calls(
        [case(numbers=[NumberHistory(10, "+12025550001", attempts=history)])],
        CAMPAIGN,
        NOW,
        limit=10,
    )
    assert plans == [CallPlan(1, 10, "+12025550001")] and deferred == []


def test_given_only_refused_calls_then_the_case_is_as_fresh_and_under_no_attempt_cap():
    refused = tuple(attempt(i + 1, "not_placed") for i in range(12))
    plans, deferred = plan_calls(
        [case(numbers=[NumberHistory(10, "+12025550001", attempts=refused)])],
        CAMPAIGN,
        NOW,
        limit=10,
    )
    assert plans == [CallPlan(1, 10, "+12025550001")] and deferred == []
