"""Contact strategies: which steps a case is due, the strategy file's checks, and the
champion/challenger split with its comparison (against published figures)."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.config import ConfigError
from pbx_engine.strategies.files import load_strategy
from pbx_engine.strategies.plan import CaseStanding, DueStep, due_steps, last_outcome, stopped
from pbx_engine.strategies.split import compare_means, compare_rates, side_of, wilson

STRATEGY = """\
name = "standard"

[[step]]
name = "dispute"
last_outcome = ["dispute"]
action = "stop"

[[step]]
name = "day-0 reminder"
days_past_due = [0, 2]
action = "email"
template = "reminder"

[[step]]
name = "broken promise"
last_outcome = ["broken_promise"]
action = "email"
template = "missed"

[[step]]
name = "big balances"
days_past_due = [10]
balance = [1000]
segment = ["retail"]
action = "sms"
template = "call-us"
"""


@pytest.fixture
def strategy(tmp_path: Path):
    path = tmp_path / "standard.toml"
    path.write_text(STRATEGY)
    return load_strategy(path)


def standing(**kw) -> CaseStanding:
    base = dict(case_id=7, days_past_due=0, last_outcome="none", segment=None,
                balance=Decimal("100"))  # fmt: skip
    return CaseStanding(**{**base, **kw})


def test_given_a_fresh_debt_then_the_day_0_reminder_is_due_once(strategy):
    assert due_steps(strategy, standing()) == [DueStep(7, "day-0 reminder", "email", "reminder")]
    done = standing(steps_done=frozenset({"day-0 reminder"}))
    assert due_steps(strategy, done) == []
    assert due_steps(strategy, standing(days_past_due=3)) == []
    assert due_steps(strategy, standing(days_past_due=None)) == []


def test_given_a_broken_promise_then_its_email_is_due(strategy):
    assert [d.step for d in due_steps(strategy, standing(days_past_due=5,
            last_outcome="broken_promise"))] == ["broken promise"]  # fmt: skip


def test_given_segment_and_balance_bounds_then_only_cases_within_them(strategy):
    big = standing(days_past_due=12, segment="retail", balance=Decimal("1500"))
    assert [d.step for d in due_steps(strategy, big)] == ["big balances"]
    assert (
        due_steps(strategy, standing(days_past_due=12, segment="sme", balance=Decimal("1500")))
        == []
    )
    assert due_steps(strategy, standing(days_past_due=12, segment="retail")) == []


def test_given_a_dispute_then_the_strategy_stops_before_anything_else(strategy):
    disputed = standing(last_outcome="dispute")
    assert due_steps(strategy, disputed) == []
    assert stopped(strategy, disputed) and not stopped(strategy, standing())


@pytest.mark.parametrize(
    ("last", "promise", "paid", "expected"),
    [
        (None, None, False, "none"),
        ("refused", None, False, "refused"),
        ("promise_to_pay", date(2026, 12, 10), False, "promise_to_pay"),  # not due yet
        ("promise_to_pay", date(2026, 12, 1), False, "broken_promise"),
        ("promise_to_pay", date(2026, 12, 1), True, "promise_to_pay"),  # kept
    ],
)
def test_given_the_last_disposition_then_the_outcome_a_strategy_reads(
    last, promise, paid, expected
):
    assert last_outcome(last, promise, paid, date(2026, 12, 3)) == expected


STEP = 'name = "x"\n[[step]]\nname = "a"\n'


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (STEP + 'action = "email"\n', "step.0 (line 2): an email step needs a template"),
        (STEP + 'action = "stop"\ntemplate = "t"\n', "a stop step sends nothing"),
        (STEP + 'action = "fax"\ntemplate = "t"\n', "step.0.action (line 4)"),
        (
            STEP + 'action = "sms"\ntemplate = "t"\nlast_outcome = ["angry"]\n',
            "unknown last_outcome angry",
        ),
        (
            STEP + 'action = "sms"\ntemplate = "t"\ndays_past_due = [9, 3]\n',
            "days_past_due: the first bound is above the second",
        ),
        (
            STEP + 'action = "sms"\ntemplate = "t"\nwhen = "x"\n',
            "step.0.when (line 6): unknown key (a typo?)",
        ),
        ('name = "x"\n', "step: required key is missing"),
    ],
)
def test_given_a_bad_strategy_file_then_loading_names_the_key_line_and_problem(
    tmp_path, text, problem
):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_strategy(path)
    assert problem in str(raised.value)


def test_given_many_cases_then_the_split_is_even_and_stable():
    sides = [side_of("spring", case_id, 0.5) for case_id in range(20_000)]
    challengers = sides.count("challenger")
    assert abs(challengers - 10_000) < 300  # 3 standard deviations is about 212
    assert sides == [side_of("spring", case_id, 0.5) for case_id in range(20_000)]
    assert sides != [side_of("autumn", case_id, 0.5) for case_id in range(20_000)]
    assert {side_of("s", i, 0.0) for i in range(100)} == {"champion"}
    assert {side_of("s", i, 1.0) for i in range(100)} == {"challenger"}


@given(st.integers(0, 2000), st.integers(1, 2000))
def test_given_any_counts_then_the_wilson_interval_holds_the_rate(successes, trials):
    successes = min(successes, trials)
    interval = wilson(successes, trials)
    assert 0 <= interval.low <= successes / trials <= interval.high <= 1


def test_given_newcombes_worked_example_then_the_same_interval():
    # Newcombe (1998), Stat Med 17:873, method 10: 56/70 against 48/80.
    result = compare_rates("promises", champion=(48, 80), challenger=(56, 70))
    assert result.difference == pytest.approx(0.2)
    assert (result.interval.low, result.interval.high) == (
        pytest.approx(0.0524, abs=1e-4),
        pytest.approx(0.3339, abs=1e-4),
    )
    assert result.settled
    assert result.sentence().endswith("a real difference: the challenger does better.")


def test_given_small_samples_then_the_sentence_says_not_yet():
    result = compare_rates("contact rate", champion=(3, 10), challenger=(5, 10))
    assert not result.settled
    assert result.sentence() == (
        "contact rate: challenger 50.0% (10 cases), champion 30.0% (10 cases); difference "
        "+20.0 points, 95% interval -20.2 points to +52.6 points: not a real difference yet "
        "(it could still be chance)."
    )
    assert compare_rates("x", (0, 0), (1, 3)).sentence().endswith("nothing to compare yet.")


def test_given_amounts_collected_then_means_are_compared_with_welchs_interval():
    champion = [0.0] * 40 + [100.0] * 10
    challenger = [0.0] * 30 + [100.0] * 20
    result = compare_means("collected per case", champion, challenger)
    assert result.difference == pytest.approx(20.0)
    assert result.interval.low < 20 < result.interval.high
    assert compare_means("x", [1.0], [2.0, 3.0]).interval.low == float("-inf")
