"""The score a reply to a survey gives: its first word, a number from 1 to 5."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.messaging.surveys import survey_score


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("4", 4),
        (" 5 ", 5),
        ("5 thank you", 5),
        ("3/5", 3),
        ("3 / 5", 3),
        ("1!", 1),
        ("2, the agent was rude", 2),
    ],
)
def test_given_a_reply_starting_with_a_score_then_it_is_read(reply, score):
    assert survey_score(reply) == score


@pytest.mark.parametrize(
    "reply", ["0", "6", "10", "45", "4.5", "4,5", "five", "STOP", "", "I paid 5 dollars"]
)
def test_given_anything_else_then_there_is_no_score(reply):
    assert survey_score(reply) is None


@given(st.text(max_size=40))
def test_given_any_reply_then_the_score_is_none_or_one_to_five(reply):
    assert survey_score(reply) in (None, 1, 2, 3, 4, 5)


def test_given_survey_templates_the_file_has_then_nothing_is_said():
    from pbx_engine.messaging.surveys import unknown_surveys

    assert unknown_surveys(["survey"], ["reminder", "survey"], "messages.toml") is None
    assert unknown_surveys([], [], "no messages file") is None


def test_given_a_survey_template_the_file_lacks_then_it_is_named_with_the_file():
    from pbx_engine.messaging.surveys import unknown_surveys

    assert unknown_surveys(["survey", "surevy"], ["survey"], "messages.toml") == (
        "[messages] survey_templates names 'surevy', which messages.toml does not have"
    )
