import pytest

from ari_apps.outcomes import Outcome, classify_amd, classify_unanswered


@pytest.mark.parametrize(
    ("cause", "dial_status", "expected"),
    [
        (17, None, Outcome.BUSY),
        (17, "BUSY", Outcome.BUSY),
        (None, "BUSY", Outcome.BUSY),
        (19, "NOANSWER", Outcome.NO_ANSWER),
        (18, None, Outcome.NO_ANSWER),
        (21, "CONGESTION", Outcome.REJECTED),
        (34, "CONGESTION", Outcome.FAILED),
        (1, "CHANUNAVAIL", Outcome.FAILED),
        (16, None, Outcome.NO_ANSWER),
        (16, "CANCEL", Outcome.CANCELLED),
        (None, None, Outcome.FAILED),
        (127, None, Outcome.FAILED),
    ],
)
def test_unanswered_calls_are_classified_by_cause_then_dial_status(cause, dial_status, expected):
    assert classify_unanswered(cause, dial_status) is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("HUMAN", Outcome.HUMAN),
        ("MACHINE", Outcome.MACHINE),
        ("machine", Outcome.MACHINE),
        # A live person hung up on is an abandoned call; an unsure verdict goes to an agent.
        ("NOTSURE", Outcome.HUMAN),
        ("HANGUP", Outcome.HUMAN),
        (None, Outcome.HUMAN),
    ],
)
def test_amd_status_maps_to_outcome(status, expected):
    assert classify_amd(status) is expected


@pytest.mark.parametrize(
    ("status", "cause", "expected"),
    [
        ("MACHINE", "INITIALSILENCE-2500-2500", Outcome.SILENCE),
        ("MACHINE", "MAXWORDS-3-2", Outcome.MACHINE),
        ("MACHINE", "LONGGREETING-1600-1500", Outcome.MACHINE),
        ("FAX", "CNG", Outcome.FAX),
        # a person who waits silently gets NOTSURE or HUMAN, never silence
        ("NOTSURE", "INITIALSILENCE-2500-2500", Outcome.HUMAN),
    ],
)
def test_amd_cause_tells_silence_and_fax_from_machines(status, cause, expected):
    assert classify_amd(status, cause) is expected
