"""The consent ledger's rules: the latest entry covering a channel decides; replies are read
for opt-out keywords only when that is all they say; revoke-all from 31 January 2027."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.messaging.consent import (
    AUTOMATED,
    REVOKE_ALL_FROM,
    Channel,
    Consent,
    ConsentEntry,
    Source,
    covers,
    may_contact,
    reply_consent,
    revocation_by_disposition,
)

NUMBER = "+33612345678"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def entry(consent, channels, at, *, address=NUMBER, until=None, source=Source.SMS_REPLY):
    return ConsentEntry(address, frozenset(channels), consent, source, at, until)


@pytest.mark.parametrize(
    "reply",
    ["STOP", "stop", "Stop.", " STOP ", "ARRÊT", "arret", "Stop all", "UNSUBSCRIBE", "opt-out",
     "Opt out", "QUIT", "end", "Cancel!", "revoke", "ALTO", "Rezygnuję"],
)  # fmt: skip
def test_given_an_opt_out_keyword_alone_then_the_reply_revokes(reply):
    assert reply_consent(reply) is Consent.REVOKED


@pytest.mark.parametrize("reply", ["START", "unstop", "Oui"])
def test_given_a_keyword_asking_again_then_the_reply_grants(reply):
    assert reply_consent(reply) is Consent.GRANTED


@pytest.mark.parametrize(
    "reply",
    ["I will pay on Friday", "stop calling me at work", "Don't stop", "STOPPED", "", "?"],
)
def test_given_a_reply_that_says_more_than_a_keyword_then_a_person_reads_it(reply):
    assert reply_consent(reply) is None


def test_given_no_entry_then_contact_is_allowed_unless_the_channel_needs_consent_first():
    assert may_contact([], NUMBER, Channel.SMS, NOW).allowed
    refused = may_contact([], NUMBER, Channel.SMS, NOW, needs_consent=True)
    assert not refused.allowed
    assert refused.rule == "no consent on record for sms"


def test_given_a_stop_by_sms_then_texts_are_refused_naming_the_entry_and_calls_go_on():
    stop = entry(Consent.REVOKED, covers(Channel.SMS, NOW), NOW - timedelta(days=1))
    refused = may_contact([stop], NUMBER, Channel.SMS, NOW)
    assert not refused.allowed
    assert refused.rule == "revoked by sms_reply on 2026-12-02 12:00 UTC"
    assert refused.entry == stop
    assert may_contact([stop], NUMBER, Channel.CALL, NOW).allowed  # before revoke-all


def test_given_a_stop_from_31_january_2027_then_every_automated_channel_is_revoked():
    assert covers(Channel.SMS, REVOKE_ALL_FROM - timedelta(seconds=1)) == {Channel.SMS}
    assert covers(Channel.SMS, REVOKE_ALL_FROM) == AUTOMATED
    assert covers(Channel.CALL, REVOKE_ALL_FROM) == AUTOMATED
    assert covers(Channel.EMAIL, REVOKE_ALL_FROM) == {Channel.EMAIL}
    later = REVOKE_ALL_FROM + timedelta(days=3)
    stop = entry(Consent.REVOKED, covers(Channel.SMS, later), later)
    assert not may_contact([stop], NUMBER, Channel.CALL, later + timedelta(hours=1)).allowed


def test_given_a_revocation_for_a_time_then_it_lapses_after():
    refusal = entry(
        Consent.REVOKED, {Channel.CALL}, NOW, until=NOW + timedelta(days=60),
        source=Source.DISPOSITION,
    )  # fmt: skip
    during = may_contact([refusal], NUMBER, Channel.CALL, NOW + timedelta(days=59))
    assert not during.allowed
    assert during.rule.endswith("until 2027-02-01")
    assert may_contact([refusal], NUMBER, Channel.CALL, NOW + timedelta(days=60)).allowed


def test_given_a_grant_after_a_revocation_then_the_latest_decides_whatever_the_order_given():
    stop = entry(Consent.REVOKED, {Channel.SMS}, NOW - timedelta(days=2))
    start = entry(Consent.GRANTED, {Channel.SMS}, NOW - timedelta(days=1))
    assert may_contact([start, stop], NUMBER, Channel.SMS, NOW).allowed
    assert not may_contact(
        [start, stop], NUMBER, Channel.SMS, NOW - timedelta(days=1, hours=1)
    ).allowed


def test_given_entries_for_other_addresses_then_they_decide_nothing_and_emails_ignore_case():
    stop = entry(Consent.REVOKED, {Channel.EMAIL}, NOW, address="Jan@Example.org")
    assert not may_contact([stop], "jan@example.org", Channel.EMAIL, NOW).allowed
    assert may_contact([stop], "ewa@example.org", Channel.EMAIL, NOW).allowed
    assert may_contact([stop], NUMBER, Channel.EMAIL, NOW).allowed


_entries = st.lists(
    st.builds(
        entry,
        st.sampled_from(list(Consent)),
        st.sets(st.sampled_from(list(Channel)), min_size=1),
        st.datetimes(
            min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
        ),
    ),
    max_size=8,
)


@given(_entries, st.sampled_from(list(Channel)))
def test_given_any_ledger_then_the_decision_is_the_latest_covering_entrys(entries, channel):
    now = datetime(2028, 1, 1, tzinfo=UTC)
    decision = may_contact(entries, NUMBER, channel, now)
    covering = [e for e in entries if channel in e.channels]
    if not covering:
        assert decision.allowed and decision.entry is None
    else:
        latest = max(e.at for e in covering)
        assert decision.entry is not None and decision.entry.at == latest
        assert decision.allowed == (decision.entry.consent is Consent.GRANTED)


def test_given_stop_calling_on_a_call_then_calls_are_revoked_for_good_and_texts_too_from_2027():
    before = revocation_by_disposition("stop_calling", NOW, None)
    assert before is not None and before.channels == {Channel.CALL} and before.until is None
    after = revocation_by_disposition("stop_calling", REVOKE_ALL_FROM, None)
    assert after is not None and after.channels == AUTOMATED


def test_given_a_refusal_then_calls_stop_for_the_profiles_quiet_time_if_it_has_one():
    french = revocation_by_disposition("refused", NOW, timedelta(days=60))
    assert french is not None
    assert (french.channels, french.until) == ({Channel.CALL}, NOW + timedelta(days=60))
    assert french.note == "refused on a call: 60 days"
    assert revocation_by_disposition("refused", NOW, None) is None
    assert revocation_by_disposition("promise_to_pay", NOW, timedelta(days=60)) is None


def test_given_revoke_all_applied_earlier_then_a_stop_covers_both_automated_channels_from_then():
    from pbx_engine.messaging.consent import revoke_all_from

    day = revoke_all_from(date(2026, 11, 1))
    assert day == datetime(2026, 11, 1, tzinfo=UTC)
    assert covers(Channel.SMS, NOW, day) == AUTOMATED
    assert covers(Channel.SMS, day - timedelta(seconds=1), day) == {Channel.SMS}
    assert covers(Channel.EMAIL, NOW, day) == {Channel.EMAIL}
    assert revocation_by_disposition("stop_calling", NOW, None, day).channels == AUTOMATED


def test_the_configured_revoke_all_day_is_the_rules_by_default():
    from pbx_engine.config import MessagesConfig
    from pbx_engine.messaging.consent import revoke_all_from

    assert revoke_all_from(MessagesConfig().revoke_all_from) == REVOKE_ALL_FROM
