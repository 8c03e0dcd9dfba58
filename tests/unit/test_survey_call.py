"""The keypad survey after a call, as a state machine: every path without a PBX."""

import pytest

from ari_apps.survey_call import Ask, CallSurvey, Finish, Keep, Question
from pbx_engine.campaigns.config import CampaignConfig

SATISFIED = Question("satisfied", "sound:q-satisfied")  # keys 1 to 5
RESOLVED = Question("resolved", "sound:q-resolved", keys="12")


def survey(**kw) -> CallSurvey:
    return CallSurvey((SATISFIED, RESOLVED), thanks=("sound:thanks",), **kw)


def test_given_two_questions_answered_then_both_are_kept_and_he_is_thanked():
    s = survey(intro=("sound:intro",))
    assert s.start() == [Ask(("sound:intro", "sound:q-satisfied"))]
    assert s.key("4") == [Keep("satisfied", 4), Ask(("sound:q-resolved",))]
    assert s.key("1") == [Keep("resolved", 1), Finish(("sound:thanks",))]
    assert s.done and s.answers == {"satisfied": 4, "resolved": 1}
    assert s.key("5") == [] and s.silence() == []  # over: later keys change nothing


def test_given_a_key_the_question_does_not_take_then_it_is_asked_again_then_skipped():
    s = survey()
    s.start()
    s.key("2")
    assert s.key("5") == [Ask(("sound:pm-invalid-option", "sound:q-resolved"))]
    assert s.key("#") == [Finish(("sound:thanks",))]  # skipped: no answer kept for it
    assert s.answers == {"satisfied": 2}


@pytest.mark.parametrize("key", ["0", "6", "9", "*", "#", "A"])
def test_keys_outside_one_to_five_never_make_a_score(key):
    s = survey()
    s.start()
    assert not any(isinstance(a, Keep) for a in s.key(key))


def test_given_silence_then_the_question_is_asked_once_more_and_a_second_silence_ends_it():
    s = survey()
    s.start()
    assert s.silence() == [Ask(("sound:q-satisfied",))]
    assert s.silence() == [Finish(())]  # nobody there: no thanks played, no more questions
    assert s.done and s.answers == {}


def test_silence_and_mistakes_count_per_question():
    s = survey()
    s.start()
    s.silence()
    s.key("9")
    assert s.key("3") == [Keep("satisfied", 3), Ask(("sound:q-resolved",))]
    assert s.silence() == [Ask(("sound:q-resolved",))]  # a fresh question: asked again
    assert s.key("7") == [Ask(("sound:pm-invalid-option", "sound:q-resolved"))]


def test_given_he_hangs_up_halfway_then_the_answers_given_stay():
    s = survey()
    s.start()
    s.key("5")
    assert s.hung_up() == [] and s.done
    assert s.answers == {"satisfied": 5}
    assert s.key("1") == []


def test_given_no_questions_then_it_ends_at_once():
    s = CallSurvey(())
    assert s.start() == [Finish(())] and s.done


def test_a_campaign_survey_names_sounds_as_the_dialplan_does_and_media_as_it_is():
    campaign = CampaignConfig(
        name="c",
        survey={
            "intro": "/var/lib/pbx-engine/sounds/intro",
            "questions": [
                {"name": "satisfied", "prompt": "acme-q1"},
                {"name": "resolved", "prompt": "recording:acme-q2", "keys": "12"},
            ],
        },
    )
    made = campaign.survey.call_survey()
    assert made.intro == ("sound:/var/lib/pbx-engine/sounds/intro",)
    assert made.questions == (
        Question("satisfied", "sound:acme-q1", "12345"),
        Question("resolved", "recording:acme-q2", "12"),
    )
    assert made.thanks == ()
    assert campaign.survey.call_survey() is not made  # each call its own


@pytest.mark.parametrize(
    ("survey", "problem"),
    [
        ({"questions": []}, "at least 1"),
        ({"questions": [{"name": "q", "prompt": "p"}] * 2}, "given twice"),
        ({"questions": [{"name": "q", "prompt": "p", "keys": "06"}]}, "keys"),
        ({"questions": [{"name": "Q 1", "prompt": "p"}]}, "name"),
        ({"questions": [{"name": f"q{i}", "prompt": "p"} for i in range(6)]}, "at most 5"),
        ({"questions": [{"name": "q", "prompt": "p\nx"}]}, "control"),
        ({"questions": [{"name": "q", "prompt": "p"}], "outro": "x"}, "outro"),
    ],
)
def test_a_survey_section_that_cannot_work_is_refused_saying_why(survey, problem):
    with pytest.raises(ValueError, match=problem):
        CampaignConfig(name="c", survey=survey)
