"""The outbound call state machine: every path, including late and repeated events."""

from datetime import UTC, datetime, timedelta

import pytest

from ari_apps.outbound_call import (
    AmdDecided,
    Finish,
    IllegalTransition,
    MarkAnswered,
    MarkRinging,
    MessageLeft,
    OutboundCall,
    Phase,
    RunAmd,
    Verdict,
)
from ari_apps.outcomes import Outcome
from pbx_engine.amd.detectors import DetectorKind
from pbx_engine.ari.events import parse_event

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CH = "out-1"


def ev(kind: str, **fields):
    if kind == "Dial":
        return parse_event({"type": "Dial", "peer": {"id": CH}, **fields})
    channel = {"id": CH, "state": fields.pop("state", "Down")}
    return parse_event({"type": kind, "channel": channel, **fields})


def feed(call: OutboundCall, *events):
    actions = []
    for i, event in enumerate(events):
        actions += call.handle(event, T0 + timedelta(seconds=i))
    return actions


def test_given_a_person_answers_when_amd_says_human_then_the_call_is_connected_then_ends_human():
    call = OutboundCall(CH)
    actions = feed(
        call,
        ev("StasisStart", args=["outbound"]),
        ev("Dial", dialstatus="RINGING"),
        ev("ChannelStateChange", state="Ringing"),
        ev("Dial", dialstatus="ANSWER"),
        ev("ChannelStateChange", state="Up"),
        ev("StasisEnd"),
        ev("StasisStart", args=["amd", "HUMAN", "HUMAN-800-800"]),
    )
    assert [type(a) for a in actions] == [MarkRinging, MarkAnswered, RunAmd, Verdict]
    assert call.phase is Phase.CONNECTED
    assert actions[-1].outcome is Outcome.HUMAN

    [finish] = call.handle(ev("ChannelDestroyed", cause=16, cause_txt="Normal Clearing"), T0)
    assert finish == Finish(Outcome.HUMAN, T0, 16, "Normal Clearing")
    assert call.phase is Phase.ENDED


@pytest.mark.parametrize(
    ("status", "cause", "expected"),
    [
        ("HUMAN", "HUMAN-600-800", Outcome.HUMAN),
        ("MACHINE", "LONGGREETING-3500-3500", Outcome.MACHINE),
        ("MACHINE", "INITIALSILENCE-2500-2500", Outcome.SILENCE),
        ("NOTSURE", "LISTENER-FAILED", Outcome.HUMAN),
    ],
)
def test_given_the_engine_detector_when_it_decides_then_the_verdict_is_the_same_as_app_amds(
    status, cause, expected
):
    call = OutboundCall(CH)
    actions = feed(
        call, ev("ChannelStateChange", state="Up"), AmdDecided(status, cause)
    )  # the call never left Stasis: no StasisEnd/StasisStart around the verdict
    assert [type(a) for a in actions] == [MarkAnswered, RunAmd, Verdict]
    assert (actions[-1].status, actions[-1].cause, actions[-1].outcome) == (status, cause, expected)
    assert call.phase is Phase.CONNECTED


def test_given_a_verdict_then_it_says_which_kind_of_detector_heard_the_call():
    engine, dialplan = OutboundCall(CH), OutboundCall(CH)
    by_engine = feed(engine, ev("ChannelStateChange", state="Up"), AmdDecided("MACHINE", "X"))
    by_dialplan = feed(
        dialplan,
        ev("ChannelStateChange", state="Up"),
        ev("StasisStart", args=["amd", "MACHINE", "X"]),
    )
    assert by_engine[-1].heard_by is DetectorKind.ENGINE
    assert by_dialplan[-1].heard_by is DetectorKind.DIALPLAN


def test_given_an_engine_verdict_after_the_call_ended_then_nothing_changes():
    call = OutboundCall(CH)
    feed(call, ev("ChannelStateChange", state="Up"), ev("ChannelDestroyed", cause=16))
    assert call.handle(AmdDecided("MACHINE", "LONGGREETING-3500-3500"), T0) == []


def test_given_voicemail_when_amd_says_machine_then_the_outcome_is_machine():
    call = OutboundCall(CH)
    feed(
        call,
        ev("Dial", dialstatus="ANSWER"),
        ev("StasisStart", args=["amd", "MACHINE", "MAXWORDS-3-2"]),
    )
    [finish] = call.handle(ev("ChannelDestroyed", cause=16), T0)
    assert finish.outcome is Outcome.MACHINE


def test_given_amd_is_unsure_when_deciding_then_the_call_counts_as_a_person():
    call = OutboundCall(CH)
    actions = feed(
        call,
        ev("ChannelStateChange", state="Up"),
        ev("StasisStart", args=["amd", "NOTSURE", "TOOLONG-5000"]),
    )
    assert actions[-1].outcome is Outcome.HUMAN


@pytest.mark.parametrize(
    ("dial_status", "cause", "expected"),
    [
        ("BUSY", 17, Outcome.BUSY),
        ("NOANSWER", 16, Outcome.NO_ANSWER),
        ("CONGESTION", 21, Outcome.REJECTED),
        ("CHANUNAVAIL", 1, Outcome.FAILED),
    ],
)
def test_given_the_call_is_not_answered_when_destroyed_then_cause_and_dial_status_decide(
    dial_status, cause, expected
):
    call = OutboundCall(CH)
    actions = feed(
        call,
        ev("Dial", dialstatus="RINGING"),
        ev("Dial", dialstatus=dial_status),
        ev("ChannelDestroyed", cause=cause),
    )
    assert actions[-1].outcome is expected
    assert call.answered_at is None


def test_given_answer_is_announced_twice_when_handled_then_amd_runs_once():
    call = OutboundCall(CH)
    actions = feed(call, ev("Dial", dialstatus="ANSWER"), ev("ChannelStateChange", state="Up"))
    assert [type(a) for a in actions] == [MarkAnswered, RunAmd]


def test_given_the_debtor_hangs_up_during_amd_when_destroyed_then_it_counts_as_a_person():
    call = OutboundCall(CH)
    actions = feed(call, ev("ChannelStateChange", state="Up"), ev("ChannelDestroyed", cause=16))
    assert actions[-1].outcome is Outcome.HUMAN
    assert actions[-1].cause == 16


def test_given_the_call_ended_when_late_events_arrive_then_nothing_changes():
    call = OutboundCall(CH)
    feed(call, ev("ChannelDestroyed", cause=17))
    assert call.handle(ev("Dial", dialstatus="BUSY"), T0) == []
    assert call.handle(ev("ChannelDestroyed", cause=17), T0) == []
    assert call.lost(T0) == []


def test_given_an_amd_verdict_before_the_answer_when_handled_then_it_is_illegal():
    call = OutboundCall(CH)
    with pytest.raises(IllegalTransition):
        call.handle(ev("StasisStart", args=["amd", "HUMAN", "x"]), T0)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], Outcome.FAILED),
        ([("Dial", {"dialstatus": "RINGING"})], Outcome.FAILED),
        ([("ChannelStateChange", {"state": "Up"})], Outcome.HUMAN),
        (
            [
                ("ChannelStateChange", {"state": "Up"}),
                ("StasisStart", {"args": ["amd", "MACHINE", "x"]}),
            ],
            Outcome.MACHINE,
        ),
    ],
)
def test_given_the_channel_vanishes_when_lost_then_the_outcome_follows_what_was_known(
    events, expected
):
    call = OutboundCall(CH)
    feed(call, *(ev(kind, **fields) for kind, fields in events))
    [finish] = call.lost(T0)
    assert finish.outcome is expected
    assert finish.cause_text == "channel lost"
    assert call.phase is Phase.ENDED


def test_given_unrelated_events_when_handled_then_they_are_ignored():
    call = OutboundCall(CH)
    assert (
        call.handle(parse_event({"type": "ChannelVarset", "variable": "X", "value": "1"}), T0) == []
    )
    assert call.handle(parse_event({"type": "SomethingNew"}), T0) == []
    assert call.phase is Phase.DIALING


def answered_machine(cause: str = "MAXWORDS-3-2") -> OutboundCall:
    call = OutboundCall(CH)
    feed(
        call,
        ev("StasisStart", args=["outbound"]),
        ev("ChannelStateChange", state="Up"),
        ev("StasisEnd"),
        ev("StasisStart", args=["amd", "MACHINE", cause]),
    )
    return call


def test_given_a_message_left_after_the_greeting_then_it_is_reported_and_the_call_stays_a_machine():
    call = answered_machine()
    started = T0.timestamp() + 4.25
    actions = feed(
        call, ev("StasisEnd"), ev("StasisStart", args=["message", "SILENCE", str(started)])
    )
    assert actions == [
        MessageLeft(
            started_at=datetime.fromtimestamp(started, UTC),
            at=T0 + timedelta(seconds=1),
            greeting_ended=True,
        )
    ]
    [finish] = call.handle(ev("ChannelDestroyed", cause=16, cause_txt="Normal Clearing"), T0)
    assert finish.outcome is Outcome.MACHINE


def test_given_the_greeting_never_ended_then_the_message_is_still_reported():
    call = answered_machine()
    [left] = call.handle(ev("StasisStart", args=["message", "TIMEOUT", "not-a-time"]), T0)
    assert left.greeting_ended is False and left.started_at is None


def test_given_a_message_report_before_any_verdict_then_it_is_illegal():
    call = OutboundCall(CH)
    with pytest.raises(IllegalTransition):
        call.handle(ev("StasisStart", args=["message", "SILENCE", "1"]), T0)


def test_given_silence_or_a_fax_then_the_outcome_says_so():
    assert answered_machine("INITIALSILENCE-2500-2500").verdict.outcome is Outcome.SILENCE
    call = OutboundCall(CH)
    feed(call, ev("ChannelStateChange", state="Up"), ev("StasisStart", args=["amd", "FAX", "CNG"]))
    assert call.verdict.outcome is Outcome.FAX


@pytest.mark.parametrize(
    ("rang_seconds", "ring_timeout", "expected"),
    [
        (8.0, 8.0, Outcome.NO_ANSWER),  # Asterisk ended it at the timeout its dial was given
        (30.0, 8.0, Outcome.NO_ANSWER),
        (7.9, 8.0, Outcome.FAILED),  # gone before its timeout: the cause is anyone's guess
        (30.0, None, Outcome.FAILED),  # no timeout known
    ],
)
def test_given_a_ringing_line_vanishes_unseen_when_lost_then_past_its_ring_timeout_it_was_not_answered(  # noqa: E501
    rang_seconds, ring_timeout, expected
):
    call = OutboundCall(CH)
    call.handle(ev("Dial", dialstatus="RINGING"), T0)
    [finish] = call.lost(T0 + timedelta(seconds=rang_seconds), ring_timeout)
    assert finish.outcome is expected


def test_given_a_call_never_rang_when_lost_long_after_then_it_failed_whatever_the_timeout():
    call = OutboundCall(CH)
    [finish] = call.lost(T0 + timedelta(minutes=5), 8.0)
    assert finish.outcome is Outcome.FAILED


def test_given_an_answered_call_when_lost_past_the_ring_timeout_then_it_is_what_was_heard():
    call = OutboundCall(CH)
    feed(call, ev("Dial", dialstatus="RINGING"), ev("ChannelStateChange", state="Up"))
    [finish] = call.lost(T0 + timedelta(minutes=5), 8.0)
    assert finish.outcome is Outcome.HUMAN


def _judged_human() -> OutboundCall:
    call = OutboundCall(CH)
    feed(
        call,
        ev("ChannelStateChange", state="Up"),
        ev("StasisStart", args=["amd", "HUMAN", "HUMAN-800-800"]),
    )
    return call


def test_given_a_person_judged_when_handed_to_another_engine_then_the_call_ends_here_unsettled():
    call = _judged_human()
    [finish] = call.handed("engine-b", T0)
    assert finish == Finish(Outcome.HUMAN, T0, None, "handed to engine engine-b", "engine-b")
    assert call.phase is Phase.ENDED
    # Its hang-up, heard late, is the other engine's to write: nothing more here.
    assert call.handle(ev("ChannelDestroyed", cause=16), T0) == []


@pytest.mark.parametrize("events", [(), (ev("ChannelStateChange", state="Up"),)])
def test_given_a_call_not_yet_judged_when_handed_then_it_is_refused(events):
    call = OutboundCall(CH)
    feed(call, *events)
    with pytest.raises(IllegalTransition):
        call.handed("engine-b", T0)
