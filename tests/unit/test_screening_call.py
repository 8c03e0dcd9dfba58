"""What follows a machine's greeting, as a state machine: the machine message, or the identity
line, an assistant's reply and the person behind it. Every path without a PBX."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ari_apps.outcomes import Outcome
from ari_apps.screening_call import (
    AfterGreeting,
    HangUp,
    IllegalStep,
    Listen,
    MarkScreened,
    PlaySound,
    PutThrough,
    ScreeningPolicy,
    Step,
)
from pbx_engine.campaigns.config import CampaignConfig

LINE = "sound:acme-identity"
MESSAGE = "sound:acme-please-call"
POLICY = ScreeningPolicy(LINE, wait_for_person=20.0, reply_window=8.0)
SILENT = ("MACHINE", "INITIALSILENCE-2500-2500")


def screening(machine_message: str | None = MESSAGE, **policy) -> AfterGreeting:
    return AfterGreeting(machine_message, ScreeningPolicy(LINE, **policy) if policy else POLICY)


def line_played(flow: AfterGreeting, at: float = 100.0) -> list:
    assert flow.greeting_ended(beep=False) == [PlaySound(LINE)]
    return flow.played(at)


# ------------------------------------------------------------------ without screening


@pytest.mark.parametrize("beep", [True, False])
def test_without_screening_the_message_is_left_whatever_ended_the_greeting(beep):
    flow = AfterGreeting(MESSAGE, None)
    assert flow.greeting_ended(beep=beep) == [PlaySound(MESSAGE)]
    assert flow.played(5.0) == [HangUp(Outcome.MACHINE)]
    assert flow.step is Step.DONE and not flow.screened


def test_without_a_message_or_screening_the_machine_is_hung_up_on():
    assert AfterGreeting(None, None).greeting_ended(beep=False) == [HangUp(Outcome.MACHINE)]


# ------------------------------------------------------------------ a beep: a voicemail box


def test_given_a_beep_then_the_machine_message_is_left_not_the_identity_line():
    flow = screening()
    assert flow.greeting_ended(beep=True) == [PlaySound(MESSAGE)]
    assert flow.played(5.0) == [HangUp(Outcome.MACHINE)]


def test_given_a_beep_and_no_machine_message_then_it_is_hung_up_on():
    assert screening(machine_message=None).greeting_ended(beep=True) == [HangUp(Outcome.MACHINE)]


# ------------------------------------------------------------------ no beep: who is it?


def test_given_no_beep_then_the_identity_line_plays_and_the_reply_is_listened_for():
    flow = screening()
    assert line_played(flow, at=100.0) == [Listen(until=108.0)]
    assert flow.step is Step.REPLY


def test_given_silence_through_the_reply_window_then_it_was_a_voicemail_box():
    flow = screening()
    line_played(flow, at=100.0)
    assert flow.heard(*SILENT, now=102.5) == [Listen(until=108.0)]
    assert flow.heard(*SILENT, now=105.0) == [Listen(until=108.0)]
    assert flow.heard(*SILENT, now=108.0) == [HangUp(Outcome.MACHINE)]
    assert not flow.screened


@pytest.mark.parametrize(
    "reply", [("MACHINE", "LEARNED-1800-92"), ("NOTSURE", "TOOLONG"), ("HUMAN", "HUMAN-900-300")]
)
def test_given_a_reply_then_the_call_is_screened_and_the_person_awaited(reply):
    """An assistant answers back whatever a detector makes of its words; the first reply is
    its, even one judged HUMAN ("Thanks, stay on the line")."""
    flow = screening()
    line_played(flow, at=100.0)
    assert flow.heard(*reply, now=103.0) == [MarkScreened(), Listen(until=120.0)]
    assert flow.screened and flow.step is Step.PERSON


def test_given_screened_then_a_persons_greeting_puts_him_through():
    flow = screening()
    line_played(flow, at=100.0)
    flow.heard("MACHINE", "LEARNED-1800-92", now=103.0)
    assert flow.heard(*SILENT, now=106.0) == [Listen(until=120.0)]
    assert flow.heard("MACHINE", "LEARNED-2000-91", now=109.0) == [Listen(until=120.0)]
    assert flow.heard("NOTSURE", "TOOLONG", now=112.0) == [Listen(until=120.0)]
    assert flow.heard("HUMAN", "HUMAN-600-300", now=113.0) == [PutThrough()]
    assert flow.step is Step.DONE and flow.screened


def test_given_screened_then_speech_from_a_listenings_first_moment_is_not_the_persons_greeting():
    """The assistant's "Thanks. ... Please stay on the line." heard in two listenings: the
    second begins in its speech, and is not the person coming to the phone."""
    flow = screening()
    line_played(flow, at=100.0)
    flow.heard("HUMAN", "HUMAN-460-300", now=101.7, onset_ms=1000)
    assert flow.heard("HUMAN", "HUMAN-1160-300", 103.2, onset_ms=60) == [Listen(until=120.0)]
    assert flow.heard("HUMAN", "HUMAN-440-500", 106.0, onset_ms=1600) == [PutThrough()]


def test_given_screened_and_nobody_comes_then_it_ends_screened_at_the_deadline():
    flow = screening()
    line_played(flow, at=100.0)
    flow.heard("MACHINE", "LEARNED-1800-92", now=103.0)
    assert flow.heard(*SILENT, now=119.0) == [Listen(until=120.0)]
    assert flow.heard(*SILENT, now=120.0) == [HangUp(Outcome.SCREENED)]


def test_given_no_wait_for_the_person_then_a_screened_call_ends_at_once():
    flow = screening(wait_for_person=0.0, reply_window=8.0)
    line_played(flow, at=100.0)
    assert flow.heard("MACHINE", "LEARNED-1800-92", now=103.0) == [
        MarkScreened(),
        HangUp(Outcome.SCREENED),
    ]


def test_a_reply_after_the_window_closed_was_not_waited_for():
    """Silence up to the window's end ends the call; a verdict arriving late is a voicemail's
    noise only if it was silence, and speech even late marks an assistant."""
    flow = screening()
    line_played(flow, at=100.0)
    assert flow.heard("HUMAN", "HUMAN-600-300", now=109.0)[0] == MarkScreened()


# ------------------------------------------------------------------ steps out of order


def test_steps_out_of_order_are_refused():
    flow = screening()
    with pytest.raises(IllegalStep):
        flow.played(1.0)
    with pytest.raises(IllegalStep):
        flow.heard(*SILENT, now=1.0)
    line_played(flow)
    with pytest.raises(IllegalStep):
        flow.greeting_ended(beep=True)
    with pytest.raises(IllegalStep):
        flow.played(2.0)


verdicts = st.sampled_from(
    [
        SILENT,
        ("MACHINE", "LEARNED-1800-92"),
        ("MACHINE", "SCREENING-3300-92"),
        ("NOTSURE", "TOOLONG"),
        ("HUMAN", "HUMAN-600-300"),
    ]
)


@given(
    beep=st.booleans(),
    wait=st.floats(0, 60),
    window=st.floats(0.5, 20),
    heard=st.lists(st.tuples(verdicts, st.floats(0, 5)), max_size=40),
)
def test_any_run_ends_in_one_way_and_screened_only_after_a_reply(beep, wait, window, heard):
    """Whatever is heard, and however late: the flow asks to listen only while its deadline
    is ahead, ends once, and marks a call screened once, only after speech answered the line."""
    flow = AfterGreeting(MESSAGE, ScreeningPolicy(LINE, wait, window))
    now = 0.0
    if flow.greeting_ended(beep=beep) == [PlaySound(MESSAGE)]:
        assert flow.played(now) == [HangUp(Outcome.MACHINE)]
        return
    actions = flow.played(now)
    spoke, marks = False, 0
    for (status, cause), pause in heard:
        if flow.step is Step.DONE:
            break
        assert isinstance(actions[-1], Listen) and actions[-1].until > now
        now += pause
        spoke = spoke or (status, cause) != SILENT
        actions = flow.heard(status, cause, now)
        marks += actions.count(MarkScreened())
    assert marks == (1 if spoke else 0) and flow.screened == spoke
    if flow.step is Step.DONE:
        last = actions[-1]
        if isinstance(last, PutThrough):
            assert flow.screened
        else:
            assert last == HangUp(Outcome.SCREENED if flow.screened else Outcome.MACHINE)


# ------------------------------------------------------------------ the campaign file


def test_a_campaign_file_gives_its_screening_policy():
    campaign = CampaignConfig.model_validate(
        {
            "name": "acme",
            "dial_mode": "progressive",
            "amd_detector": "learned",
            "screening": {"identity_line": "acme-identity", "wait_for_person_seconds": 0},
        }
    )
    assert campaign.screening is not None
    assert campaign.screening.policy() == ScreeningPolicy("acme-identity", 0.0, 8.0)
    assert campaign.retry_rule("screened") is not None


def test_screening_with_a_detector_of_the_dialplan_is_a_config_error():
    with pytest.raises(ValidationError, match="needs the engine's listener"):
        CampaignConfig.model_validate(
            {
                "name": "acme",
                "dial_mode": "progressive",
                "amd_detector": "app_amd",
                "screening": {"identity_line": "acme-identity"},
            }
        )
