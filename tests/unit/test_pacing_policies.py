"""Pacing policies and what they learn: edge cases, and invariants under random floors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx_engine.pacing import (
    POLICY_NAMES,
    CallFate,
    CallObserved,
    CampaignHistory,
    FloorState,
    HandleObserved,
    make_policy,
)
from pbx_engine.pacing.learning import AbandonLedger, FateRates, SampleWindow
from pbx_engine.pacing.policies import (
    AdaptivePolicy,
    PredictivePolicy,
    ProgressivePolicy,
    RatioPolicy,
)

# ---------------------------------------------------------------------- learning


def test_sample_window_keeps_the_latest_samples_sorted():
    window = SampleWindow(capacity=3)
    for value in (5, 1, 9, 3):  # 5 falls out
        window.add(value)
    assert len(window) == 3
    assert window.mean(0) == pytest.approx((1 + 9 + 3) / 3)
    assert window.quantile(0.0, -1) == 1
    assert window.quantile(0.99, -1) == 9
    assert window.share_at_most(3) == pytest.approx(2 / 3)


def test_sample_window_conditional_chances():
    window = SampleWindow()
    for value in range(1, 11):  # 1..10
        window.add(value)
    # lasted 5 already: of 6..10, those ending by 7 are 6 and 7
    assert window.ends_within(5, 2) == pytest.approx(2 / 5)
    assert window.ends_within(5, 0) == 0.0
    assert window.ends_within(50, 1) == 1.0  # longer than anything seen: overdue
    assert window.survives(8) == pytest.approx(0.2)
    assert SampleWindow().survives(3) == 1.0
    assert SampleWindow().ends_within(3, 3) == 0.0


def test_sample_window_rejects_a_zero_capacity():
    with pytest.raises(ValueError):
        SampleWindow(0)


def test_fate_rates_start_from_an_all_human_prior_and_forget():
    rates = FateRates(half_life=60.0, prior_weight=3.0)
    assert rates.share(CallFate.HUMAN) == 1.0
    for _ in range(97):
        rates.add(0.0, CallFate.MACHINE)
    assert rates.share(CallFate.HUMAN) == pytest.approx(3 / 100)
    for _ in range(100):
        rates.add(600.0, CallFate.HUMAN)  # ten half-lives later the machines hardly count
    assert rates.share(CallFate.HUMAN) > 0.9


def test_abandon_ledger_keeps_the_last_hour():
    ledger = AbandonLedger()
    ledger.add(0.0, True)
    ledger.add(10.0, False)
    assert ledger.rate == 0.5
    assert ledger.last_hour(100.0) == (2, 1)
    assert ledger.last_hour(3605.0) == (1, 0)
    assert (ledger.lives, ledger.abandons) == (2, 1)


# ---------------------------------------------------------------------- progressive, ratio


def test_progressive_one_call_per_ready_agent():
    policy = ProgressivePolicy()
    assert policy.calls_to_place(FloorState(now=0, ready=3, ringing=(1.0,))) == 2
    assert policy.calls_to_place(FloorState(now=0, ready=0, in_call=(5.0,))) == 0
    assert policy.calls_to_place(FloorState(now=0, ready=1, ringing=(1.0, 2.0))) == 0
    assert ProgressivePolicy(max_lines=2).calls_to_place(FloorState(now=0, ready=5)) == 2


def test_ratio_counts_ready_and_talking_agents_and_the_calls_they_talk_on():
    policy = RatioPolicy(2.0)
    assert policy.calls_to_place(FloorState(now=0, ready=5)) == 10
    # 2 ready + 3 talking = 5 agents -> 10 lines; 3 in use, 4 ringing
    floor = FloorState(now=0, ready=2, in_call=(1, 2, 3), ringing=(1, 1, 1, 1))
    assert policy.calls_to_place(floor) == 3
    assert policy.calls_to_place(FloorState(now=0, paused=4, wrap_up=(3.0,))) == 0
    with pytest.raises(ValueError):
        RatioPolicy(-1)


# ---------------------------------------------------------------------- adaptive


def _run_adaptive(policy: AdaptivePolicy, floor_at, seconds: int) -> None:
    for t in range(seconds):
        policy.calls_to_place(floor_at(float(t)))


def test_adaptive_raises_the_level_while_agents_sit_ready():
    policy = AdaptivePolicy(maximum_level=3.0)
    _run_adaptive(policy, lambda t: FloorState(now=t, ready=10), 16)
    assert policy.level == pytest.approx(2.0)  # all ready: +100% at the first 15 s step
    _run_adaptive(policy, lambda t: FloorState(now=16 + t, ready=10), 60)
    assert policy.level == 3.0  # capped at the maximum


def test_adaptive_lowers_the_level_when_calls_wait_for_agents():
    policy = AdaptivePolicy(initial_level=2.0)
    busy = FloorState(now=0, in_call=(1.0,) * 10, waiting=(0.5, 0.5))
    _run_adaptive(policy, lambda t: FloorState(**{**_fields(busy), "now": t}), 16)
    assert policy.level == pytest.approx(2.0 * (1 - 2 / 10))


def _fields(floor: FloorState) -> dict:
    return {name: getattr(floor, name) for name in FloorState.__slots__}


@pytest.mark.parametrize(
    ("variant", "expected"),
    [("hard_limit", 1.0), ("average", 1.5), ("tapered", 1.0)],
)
def test_adaptive_drop_rules_once_the_day_runs_over_target(variant, expected):
    policy = AdaptivePolicy(variant=variant, initial_level=3.0, shift_end=3600.0)
    for i in range(60):  # 60 calls, 10 answered, 5 of them dropped: 50% of answers
        fate = CallFate.HUMAN if i < 10 else CallFate.NO_ANSWER
        policy.observe(CallObserved(at=1.0, fate=fate, ring_seconds=5, abandoned=i < 5))
    # nobody ready, nobody waiting: the differential leaves the level alone, the drop rule
    # cuts it (tapered: by an hour left / 10, then back up to the floor of 1.0)
    _run_adaptive(policy, lambda t: FloorState(now=t, in_call=(1.0,) * 10), 16)
    assert policy.level == expected


def test_adaptive_tapered_cut_scales_with_hours_left():
    policy = AdaptivePolicy(variant="tapered", shift_end=5 * 3600.0)
    assert policy._tapered_rate(0.0) == pytest.approx(0.5)
    assert policy._tapered_rate(6 * 3600.0) == 0.0
    assert AdaptivePolicy(shift_end=None)._tapered_rate(0.0) == 1.0


def test_adaptive_level_stays_put_with_nobody_logged_in():
    policy = AdaptivePolicy(initial_level=1.7)
    _run_adaptive(policy, lambda t: FloorState(now=t), 40)
    assert policy.level == 1.7


def test_adaptive_rejects_unknown_variants():
    with pytest.raises(ValueError):
        AdaptivePolicy(variant="wild")


# ---------------------------------------------------------------------- predictive


def _learned_predictive(human=0.3, machine=0.2, *, settled=300, target=0.03) -> PredictivePolicy:
    """A predictive policy that has seen a steady campaign for a while."""
    policy = PredictivePolicy(abandon_target=target)
    t = 0.0
    for i in range(settled):
        t += 1.0
        u = (i * 0.61803) % 1.0  # evenly spread, deterministic
        if u < human:
            policy.observe(CallObserved(t, CallFate.HUMAN, 8 + 8 * u, 2.5))
        elif u < human + machine:
            policy.observe(CallObserved(t, CallFate.MACHINE, 8 + 8 * u, 2.5))
        else:
            policy.observe(CallObserved(t, CallFate.NO_ANSWER, 25.0))
    for i in range(50):
        policy.observe(HandleObserved(t, 60 + i * 2.0, 10 + (i % 5)))
    return policy


def test_predictive_places_nothing_without_working_agents():
    policy = _learned_predictive()
    assert policy.calls_to_place(FloorState(now=400)) == 0
    assert policy.calls_to_place(FloorState(now=400, paused=12)) == 0


def test_predictive_dials_progressively_until_it_has_learned_enough():
    policy = PredictivePolicy()
    assert policy.calls_to_place(FloorState(now=0, ready=4)) == 4
    assert policy.calls_to_place(FloorState(now=1, ready=4, ringing=(1.0,) * 3)) == 1


def test_predictive_dials_several_calls_per_ready_agent_when_few_answer():
    policy = _learned_predictive(human=0.3)
    wanted = policy.calls_to_place(FloorState(now=400, ready=10))
    assert 10 < wanted < 10 / 0.3 * 1.5


def test_predictive_dials_more_when_fewer_people_answer():
    floor = FloorState(now=400, ready=10)
    often = _learned_predictive(human=0.5).calls_to_place(floor)
    seldom = _learned_predictive(human=0.1).calls_to_place(floor)
    assert seldom > often


def test_predictive_holds_back_when_a_burst_of_answers_waits():
    policy = _learned_predictive()
    burst = FloorState(now=400, ready=0, in_call=(10.0,) * 8, waiting=(0.5,) * 4)
    assert policy.calls_to_place(burst) == 0


def test_predictive_counts_calls_already_ringing():
    policy = _learned_predictive()
    empty = policy.calls_to_place(FloorState(now=400, ready=10))
    busy_lines = policy.calls_to_place(FloorState(now=400, ready=10, ringing=(3.0,) * 20))
    assert busy_lines < empty


def test_predictive_with_no_live_answers_so_far_stays_within_its_cap():
    policy = _learned_predictive(human=0.0, machine=0.2)
    wanted = policy.calls_to_place(FloorState(now=400, ready=4))
    assert wanted == math.floor(policy.max_calls_per_agent * 4)
    capped = PredictivePolicy(max_lines=7)
    assert capped.calls_to_place(FloorState(now=0, ready=20)) == 7


def test_predictive_learns_risk_from_abandons():
    policy = _learned_predictive()
    before = policy.risk
    policy.observe(CallObserved(500.0, CallFate.HUMAN, 10.0, 2.5, abandoned=True))
    assert policy.risk < before * 0.8
    after_abandon = policy.risk
    for i in range(40):
        policy.observe(CallObserved(501.0 + i, CallFate.HUMAN, 10.0, 2.5))
    assert policy.risk > after_abandon


def test_predictive_spends_budget_left_and_pays_back_an_overrun():
    under = _learned_predictive()
    for i in range(300):
        under.observe(CallObserved(400.0 + i, CallFate.HUMAN, 10.0, 2.5))
    over = _learned_predictive()
    for i in range(300):
        over.observe(CallObserved(400.0 + i, CallFate.HUMAN, 10.0, 2.5, abandoned=i % 10 == 0))
    aim = 0.03 * 0.9
    assert under.wanted_rate(800.0) > aim
    assert over.wanted_rate(800.0) < aim
    assert over.wanted_rate(800.0) >= 0.1 * 0.03


def test_make_policy_names():
    for name in POLICY_NAMES:
        assert make_policy(name).name == name
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("adaptive-wild")
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("psychic")


# ---------------------------------------------------------------------- invariants

ages = st.lists(st.floats(min_value=0, max_value=3600, allow_nan=False), max_size=40).map(tuple)
floors = st.builds(
    FloorState,
    now=st.floats(min_value=0, max_value=86400, allow_nan=False),
    ready=st.integers(min_value=0, max_value=60),
    in_call=ages,
    wrap_up=ages,
    paused=st.integers(min_value=0, max_value=10),
    ringing=ages,
    in_amd=ages,
    waiting=ages,
)
observations = st.lists(
    st.one_of(
        st.builds(
            CallObserved,
            at=st.floats(min_value=0, max_value=86400, allow_nan=False),
            fate=st.sampled_from(list(CallFate)),
            ring_seconds=st.floats(min_value=0, max_value=120, allow_nan=False),
            amd_seconds=st.one_of(st.none(), st.floats(min_value=0, max_value=10)),
            abandoned=st.booleans(),
        ),
        st.builds(
            HandleObserved,
            at=st.floats(min_value=0, max_value=86400, allow_nan=False),
            talk_seconds=st.floats(min_value=0, max_value=5000, allow_nan=False),
            wrap_seconds=st.floats(min_value=0, max_value=500, allow_nan=False),
        ),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(POLICY_NAMES),
    seen=observations,
    floors=st.lists(floors, min_size=1, max_size=5),
    max_lines=st.integers(min_value=1, max_value=500),
)
def test_every_policy_places_a_bounded_whole_number_of_calls(name, seen, floors, max_lines):
    policy = make_policy(name, max_lines=max_lines, shift_end=28800.0)
    for observation in seen:
        policy.observe(observation)
    for floor in floors:
        wanted = policy.calls_to_place(floor)
        assert isinstance(wanted, int)
        assert 0 <= wanted <= max(0, max_lines - floor.in_flight - len(floor.in_call))
        if floor.agents == 0:
            assert wanted == 0


@settings(max_examples=100, deadline=None)
@given(seen=observations)
def test_predictive_risk_and_rates_stay_in_range(seen):
    policy = PredictivePolicy()
    for observation in seen:
        policy.observe(observation)
    assert 0 < policy.risk <= 0.5
    assert 0 <= policy.human_share() <= 1
    assert 0 < policy.wanted_rate(max((o.at for o in seen), default=0.0)) <= 1.5 * 0.03


def test_predictive_brakes_to_progressive_before_an_hour_passes_twice_the_target():
    policy = _learned_predictive()
    floor = FloorState(now=500, ready=10)
    assert policy.calls_to_place(floor) > 10
    lives, _ = policy.ledger.last_hour(500.0)
    for i in range(40):  # 7 abandons: one more would pass 90% of twice the target
        policy.observe(CallObserved(450.0 + i, CallFate.HUMAN, 10.0, 2.5, abandoned=i < 7))
    assert 7 / (lives + 40) > 0.05
    assert policy.hour_brake(500.0)
    assert policy.calls_to_place(floor) == 10  # one per ready agent: abandons nobody
    assert not policy.hour_brake(500.0 + 3600.0)


def test_predictive_counts_estimated_amd_false_positives_against_its_budget():
    plain = PredictivePolicy()
    ofcom = PredictivePolicy(amd_false_positive_share=0.05)
    for i in range(200):
        fate = CallFate.MACHINE if i % 2 else CallFate.HUMAN
        for policy in (plain, ofcom):
            policy.observe(CallObserved(1.0 + i, fate, 10.0, 2.5))
    assert ofcom.ledger.abandons == pytest.approx(100 * 0.05)
    assert ofcom.wanted_rate(300.0) < plain.wanted_rate(300.0)


# ------------------------------------------------------- a campaign's budget outlives its process


def test_predictive_taking_over_a_campaign_that_spent_its_budget_abandons_less():
    """Another engine (or this one before a restart) abandoned 5% of 1,000 people today: the
    new policy starts from what is left of the campaign's 3%, not from a fresh budget."""
    fresh, taken_over = _learned_predictive(), _learned_predictive()
    history = CampaignHistory(span=20_000.0, calls=4_000, lives=1_000, abandons=50)
    taken_over.remember(history, now=400.0)
    assert taken_over.ledger.lives == fresh.ledger.lives + 1_000
    assert taken_over.ledger.abandons == fresh.ledger.abandons + 50
    assert taken_over.wanted_rate(400.0) < fresh.wanted_rate(400.0)
    assert taken_over.wanted_rate(400.0) == pytest.approx(0.1 * 0.03)  # the floor of the rate


def test_predictive_taking_over_a_campaign_with_budget_left_may_spend_it():
    fresh, taken_over = _learned_predictive(), _learned_predictive()
    taken_over.remember(CampaignHistory(span=20_000.0, lives=1_000, abandons=5), now=400.0)
    assert taken_over.wanted_rate(400.0) > fresh.wanted_rate(400.0)


def test_the_last_hour_remembered_engages_the_hour_brake():
    policy = PredictivePolicy()
    recent = tuple((60.0 * i, i % 8 == 0) for i in range(1, 41))  # 40 lives, 5 abandoned
    policy.remember(CampaignHistory(span=3_000.0, lives=40, abandons=5, last_hour=recent), 5_000.0)
    assert policy.ledger.last_hour(5_000.0) == (40, 5)
    assert policy.hour_brake(5_000.0)
    # The remembered lives leave the hour as they age, like the policy's own.
    assert policy.ledger.last_hour(5_000.0 + 3_600.0) == (0, 0)
    assert (policy.ledger.lives, policy.ledger.abandons) == (40, 5)


def test_remembered_machine_verdicts_count_as_estimated_abandons_where_the_regulator_says():
    ofcom = PredictivePolicy(amd_false_positive_share=0.05)
    ofcom.remember(CampaignHistory(span=600.0, lives=10, machines=100), now=1_000.0)
    assert ofcom.ledger.abandons == pytest.approx(5.0)
    assert ofcom.ledger.lives == pytest.approx(15.0)


def test_adaptive_remembers_the_days_answers_and_drops_for_its_drop_rule():
    policy = AdaptivePolicy()
    policy.remember(CampaignHistory(span=600.0, calls=300, lives=100, abandons=9), now=0.0)
    assert (policy._calls_today, policy._answers_today, policy._drops_today) == (300, 100, 9)


def test_an_empty_history_changes_nothing():
    fresh, remembered = PredictivePolicy(), PredictivePolicy()
    remembered.remember(CampaignHistory(), now=10.0)
    assert remembered.wanted_rate(10.0) == fresh.wanted_rate(10.0)
    assert remembered.calls_to_place(FloorState(now=10, ready=3)) == 3
