"""What is known of a number before it is dialled or texted: the network's word on a call's end
(`number_gone`), and the numbering plan's (`invalid_number`, `sms_line_problem`), as the
message rules and the case importer use them."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from ari_apps.outcomes import Outcome, number_gone
from pbx_engine.cases.importer import parse_cases
from pbx_engine.compliance.profiles import profile
from pbx_engine.messaging.consent import Channel, Consent, ConsentEntry, Source
from pbx_engine.messaging.rules import MessageAsk, why_not
from pbx_engine.numbers import invalid_number, sms_line_problem

ALL_CAUSES = range(0, 128)


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (1, "the network says: unallocated number (cause 1)"),
        (22, "the network says: number changed (cause 22)"),
    ],
)
@pytest.mark.parametrize("outcome", [Outcome.FAILED, Outcome.REJECTED])
def test_given_a_cause_saying_the_number_is_gone_then_it_is_dead(cause, reason, outcome):
    assert number_gone(outcome, cause) == reason


@pytest.mark.parametrize("cause", [c for c in ALL_CAUSES if c not in (1, 22)] + [None])
def test_given_any_other_cause_then_the_number_stays(cause):
    assert number_gone(Outcome.FAILED, cause) is None


@pytest.mark.parametrize(
    "outcome", [o for o in Outcome if o not in (Outcome.FAILED, Outcome.REJECTED)]
)
def test_given_a_call_that_was_answered_or_busy_then_no_cause_kills_its_number(outcome):
    # A hang-up cause after an answer says how the call ended, not whether the number exists.
    assert number_gone(outcome, 1) is None


@pytest.mark.parametrize(
    "e164", ["+12025550142", "+33612345678", "+442079460000", "+48601234567", "+48221234567"]
)
def test_given_a_valid_number_then_nothing_is_said_against_it(e164):
    assert invalid_number(e164) is None


@pytest.mark.parametrize("e164", ["+48999999999", "+15555550100", "+447700900123"])
def test_given_a_number_no_plan_has_then_it_is_invalid(e164):
    assert invalid_number(e164) == f"{e164} is not a valid number in its country's numbering plan"


def test_given_no_number_at_all_then_it_is_invalid_saying_so():
    assert invalid_number("+") == "+ is not a phone number"


@pytest.mark.parametrize(
    "e164",
    [
        "+33612345678",  # French mobile
        "+48601234567",  # Polish mobile
        "+12025550142",  # North America: the plan does not tell mobiles from landlines
    ],
)
def test_given_a_mobile_or_a_line_that_may_be_one_then_an_sms_may_go(e164):
    assert sms_line_problem(e164) is None


@pytest.mark.parametrize(
    ("e164", "what"),
    [
        ("+33102030405", "a landline"),
        ("+48221234567", "a landline"),
        ("+442079460000", "a landline"),
        ("+448001111111", "a toll-free number"),
        ("+33899123456", "a premium-rate number"),
    ],
)
def test_given_a_line_no_sms_reaches_then_it_is_named(e164, what):
    assert sms_line_problem(e164) == (
        f"{e164} is {what} (its numbering plan says): no SMS reaches it"
    )


def test_given_an_invalid_number_then_no_sms_goes_to_it_either():
    assert sms_line_problem("+48999999999") == invalid_number("+48999999999")


NOW = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
ASK = MessageAsk(Channel.SMS, "+48221234567", "open", None, "a landline: no SMS reaches it")


def test_given_an_address_nothing_reaches_then_that_is_the_rule_named():
    assert why_not(ASK, [], NOW, windows=profile("plain").windows, zones=[UTC]) == (
        "a landline: no SMS reaches it"
    )


def test_given_a_closed_case_then_that_comes_before_the_line():
    closed = replace(ASK, case_status="closed")
    assert why_not(closed, [], NOW, windows=profile("plain").windows, zones=[UTC]) == (
        "the case is closed: messages stop"
    )


def test_given_the_line_and_a_revocation_then_the_line_is_named_first():
    revoked = ConsentEntry(
        ASK.address, frozenset({Channel.SMS}), Consent.REVOKED, Source.SUPERVISOR, NOW
    )
    assert why_not(ASK, [revoked], NOW, windows=profile("plain").windows, zones=[UTC]) == (
        "a landline: no SMS reaches it"
    )


def test_given_a_case_file_then_a_number_no_plan_has_loads_marked_and_valid_ones_do_not():
    batch = parse_cases(
        [
            "reference,debtor_name,amount_owed,currency,creditor,phones\n",
            "I-1,Jan,10.00,PLN,Acme,mobile:+48999999999;mobile:+48601234567\n",
        ],
        "PL",
    )
    [row] = batch.rows
    assert [(p.e164, p.invalid) for p in row.phones] == [
        ("+48999999999", "+48999999999 is not a valid number in its country's numbering plan"),
        ("+48601234567", None),
    ]
