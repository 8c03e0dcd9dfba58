"""The invariant checker's rules, on hand-made snapshots (no database, no PBX)."""

from datetime import UTC, datetime, timedelta

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.lab.invariants import (
    AgentView,
    AttemptRow,
    BridgeView,
    CaseRow,
    ChannelView,
    NumberRow,
    PbxView,
    Snapshot,
    check,
)

NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CAMPAIGN = CampaignConfig(
    name="c",
    dial_mode="progressive",
    compliance="plain",
    retry={"busy": {"after_minutes": 10, "max_attempts": 2}},
)
CASE = CaseRow(1, 7, "Etc/GMT", (NumberRow(11, "+12025550102"),))


def attempt(channel: str, minutes: float, outcome: str = "busy", **fields) -> AttemptRow:
    at = NOON + timedelta(minutes=minutes)
    values = {
        "channel_id": channel,
        "direction": "outbound",
        "created_at": at,
        "ended_at": at + timedelta(seconds=5),
        "outcome": outcome,
        "case_id": 1,
        "phone_number_id": 11,
        "campaign_id": 7,
    }
    values.update(fields)
    return AttemptRow(**values)


def snapshot(*attempts: AttemptRow, **fields) -> Snapshot:
    values = {
        "attempts": attempts,
        "cases": {1: CASE},
        "campaigns": {7: CAMPAIGN},
        "abandon_callbacks": frozenset(),
        "engine_pbx": PbxView("engine"),
        "pstn_pbx": PbxView("pstn"),
    }
    values.update(fields)
    return Snapshot(**values)


def rules(found) -> list[tuple[str, str]]:
    return [(v.rule, v.subject) for v in found]


def test_given_calls_settled_by_the_rules_and_nothing_left_then_no_violation():
    assert check(snapshot(attempt("out-1", 0), attempt("out-2", 11))) == []


def test_given_an_attempt_never_settled_then_it_is_a_violation():
    found = check(snapshot(attempt("out-1", 0, outcome="pending", ended_at=None)))
    assert rules(found) == [("attempt-settled", "out-1")]


def test_given_a_placed_call_without_attempt_or_a_call_still_up_then_both_are_violations():
    pbx = PbxView("engine", (ChannelView("out-9", "PJSIP/pstn-1"),))
    found = check(
        snapshot(attempt("out-1", 0), placed=frozenset({"out-1", "out-2"}), engine_pbx=pbx)
    )
    assert rules(found) == [("call-on-record", "out-2"), ("call-on-record", "out-9")]


def test_given_a_retry_sooner_than_its_rule_then_the_case_is_named():
    [violation] = check(snapshot(attempt("out-1", 0), attempt("out-2", 5)))
    assert violation.rule == "dialled-within-rules"
    assert violation.subject == "case 1"
    assert "out-2" in violation.detail and "waiting to retry" in violation.detail


def test_given_more_tries_than_the_rule_allows_then_the_extra_one_is_a_violation():
    found = check(snapshot(attempt("out-1", 0), attempt("out-2", 11), attempt("out-3", 22)))
    assert len(found) == 1 and "out-3" in found[0].detail


def test_given_two_calls_to_one_case_at_once_then_it_is_a_violation():
    first = attempt("out-1", 0, ended_at=NOON + timedelta(minutes=30))
    [violation] = check(snapshot(first, attempt("out-2", 11)))
    assert "a call is in progress" in violation.detail


def test_given_a_case_with_a_callback_then_its_calls_are_not_held_to_the_caps():
    case = CaseRow(1, 7, "Etc/GMT", CASE.numbers, had_callbacks=True)
    assert check(snapshot(attempt("out-1", 0), attempt("out-2", 1), cases={1: case})) == []


def test_given_abandons_then_flag_outcome_callback_and_message_must_agree():
    flagged = attempt("out-1", 0, outcome="human", abandoned=True)
    uncalled = attempt("out-2", 11, outcome="abandoned", abandoned=True, case_id=None)
    found = check(
        snapshot(flagged, uncalled, abandon_heard=frozenset({"out-2", "out-3"})),
    )
    assert sorted(rules(found)) == [
        ("abandon-callback", "out-1"),
        ("abandon-counted", "out-1"),
        ("abandon-counted", "out-1"),
        ("abandon-counted", "out-3"),
    ]


def test_given_agents_then_a_stuck_one_and_a_state_off_record_are_violations():
    pbx = PbxView(
        "engine",
        (ChannelView("agent-anna-1", "PJSIP/agent-001-1"), ChannelView("agent-olek-1", "PJSIP/2")),
        (BridgeView("b1", "agent anna", ("agent-anna-1",)), BridgeView("b2", "agent olek")),
    )
    agents = (
        AgentView("anna", "ready", "agent-anna-1", "b1", last_recorded="ready"),
        AgentView("olek", "on_call", "agent-olek-1", "b2", "out-5", last_recorded="wrap_up"),
        AgentView("ewa", "reserved", "agent-ewa-1", "b3"),
    )
    found = check(snapshot(engine_pbx=pbx, agents=agents))
    assert rules(found) == [
        ("agent-on-record", "agent olek"),
        ("agent-stuck", "agent olek"),
        ("agent-stuck", "agent ewa"),
        ("agent-stuck", "agent ewa"),
        ("agent-stuck", "agent ewa"),
    ]


def test_given_helper_channels_foreign_bridges_and_pstn_calls_left_then_each_is_named():
    engine = PbxView(
        "engine",
        (ChannelView("snoop-1", "Snoop/out-1-0001"), ChannelView("m-1", "UnicastRTP/127.0.0.1")),
        (BridgeView("amd-1", "amd out-1"), BridgeView("b1", "agent gone")),
    )
    pstn = PbxView("pstn", (ChannelView("1.2", "PJSIP/engine-0001"),))
    found = check(snapshot(engine_pbx=engine, pstn_pbx=pstn, agents=()))
    assert rules(found) == [
        ("no-leftovers", "snoop-1"),
        ("no-leftovers", "m-1"),
        ("no-leftovers", "amd-1"),
        ("no-leftovers", "b1"),
        ("no-leftovers", "1.2"),
    ]
