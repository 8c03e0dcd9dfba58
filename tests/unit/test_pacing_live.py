"""What the live dialer tells a pacing policy about a settled call."""

from ari_apps.outcomes import Outcome
from pbx_engine.dialer.pacer import fate_of, history_of, observation_of
from pbx_engine.dialer.service import CallProgress
from pbx_engine.pacing import CallFate
from pbx_engine.storage.campaigns import CampaignCalls


def test_fates_of_outcomes():
    assert fate_of(Outcome.ABANDONED) is CallFate.HUMAN
    assert fate_of(Outcome.REJECTED) is CallFate.FAILED
    assert fate_of(Outcome.NO_ANSWER) is CallFate.NO_ANSWER
    assert fate_of(Outcome.CANCELLED) is None  # we hung up ourselves: tells nothing


def test_an_unanswered_call_teaches_how_long_it_rang():
    progress = CallProgress(placed_at=100.0, ended_at=125.0)
    observed = observation_of(progress, Outcome.NO_ANSWER)
    assert (observed.at, observed.fate, observed.ring_seconds) == (125.0, CallFate.NO_ANSWER, 25)
    assert observed.amd_seconds is None


def test_a_person_put_through_is_observed_at_the_hand_over():
    progress = CallProgress(
        placed_at=100.0,
        answered_at=111.0,
        verdict=Outcome.HUMAN,
        verdict_at=113.5,
        handed_over_at=113.6,
    )
    observed = observation_of(progress, Outcome.HUMAN)
    assert observed.at == 113.6
    assert observed.ring_seconds == 11.0
    assert observed.amd_seconds == 2.5
    assert not observed.abandoned
    progress.abandoned = True
    assert observation_of(progress, Outcome.ABANDONED).abandoned


def test_a_cancelled_call_teaches_nothing():
    assert observation_of(CallProgress(placed_at=1.0, ended_at=2.0), Outcome.CANCELLED) is None


def test_the_campaign_calls_on_record_become_the_policy_history():
    calls = CampaignCalls(
        by_outcome={
            "human": 40,
            "abandoned": 2,
            "machine": 30,
            "screened": 3,
            "no_answer": 100,
            "busy": 10,
            "cancelled": 4,  # ours: tells nothing
            "not_placed": 5,
        },
        span=7_200.0,
        last_hour_lives=((30.0, False), (10.0, True)),
    )
    history = history_of(calls)
    assert (history.lives, history.abandons, history.machines) == (42, 2, 33)
    assert history.calls == 40 + 2 + 30 + 3 + 100 + 10
    assert history.span == 7_200.0 and history.last_hour == ((30.0, False), (10.0, True))


def test_an_outcome_the_engine_no_longer_knows_is_left_out_of_the_history():
    assert history_of(CampaignCalls({"vanished": 7}, 10.0, ())).calls == 0
