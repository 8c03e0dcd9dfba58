"""A campaign's abandon budget is the database's: the calls on record over the regulator's
period, whichever engine placed them, as a new pacing reads them (`calls_over`)."""

from datetime import timedelta

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.dialer.pacer import LivePacing, history_of
from pbx_engine.pacing.policies import PredictivePolicy
from pbx_engine.storage import Storage


async def _call(storage: Storage, channel_id: str, campaign_id: int, outcome: str, ago, **more):
    await storage.attempts.create_attempt(
        channel_id=channel_id,
        dialled="+12025550100",
        campaign_id=campaign_id,
        direction=more.get("direction", "outbound"),
    )
    await storage.pool.execute(
        "UPDATE call_attempts SET created_at = now() - $2::interval, "
        "bridged_at = CASE WHEN $3 = 'human' THEN now() - $2::interval END, "
        "ended_at = CASE WHEN $4 THEN now() - $2::interval + interval '30 seconds' END, "
        "abandoned = ($3 = 'abandoned'), outcome = $3 WHERE channel_id = $1",
        channel_id,
        ago,
        outcome,
        more.get("ended", True),
    )


async def test_the_calls_over_the_period_count_whoever_placed_them(storage: Storage):
    campaign = await storage.campaigns.upsert_campaign("budget", "predictive", "{}")
    other = await storage.campaigns.upsert_campaign("other", "predictive", "{}")
    minutes, hours = timedelta(minutes=1), timedelta(hours=1)
    await _call(storage, "b-1", campaign, "human", 10 * minutes)
    await _call(storage, "b-2", campaign, "abandoned", 20 * minutes)
    await _call(storage, "b-3", campaign, "human", 5 * hours)
    await _call(storage, "b-4", campaign, "machine", 2 * hours)
    await _call(storage, "b-5", campaign, "no_answer", 3 * hours)
    await _call(storage, "b-6", campaign, "human", 30 * hours)  # before the period
    await _call(storage, "b-7", campaign, "human", minutes, ended=False)  # still up
    await _call(storage, "b-8", campaign, "human", minutes, direction="inbound")
    await _call(storage, "b-9", other, "abandoned", minutes)

    calls = await storage.campaigns.calls_over(campaign, timedelta(hours=24))
    assert calls.by_outcome == {"human": 2, "abandoned": 1, "machine": 1, "no_answer": 1}
    assert 5 * 3600 - 5 < calls.span < 5 * 3600 + 60
    assert sorted((round(ago / 60), abandoned) for ago, abandoned in calls.last_hour_lives) == [
        (10, False),
        (20, True),
    ]

    history = history_of(calls)
    assert (history.calls, history.lives, history.abandons, history.machines) == (5, 3, 1, 1)


async def test_a_new_pacing_starts_from_the_campaigns_budget_on_record(storage: Storage):
    """As a runner makes it when it starts dialling: the policy's ledger holds the calls."""
    campaign = await storage.campaigns.upsert_campaign("ledger", "predictive", "{}")
    for i in range(3):
        ago = timedelta(minutes=10 * i)
        await _call(storage, f"l-{i}", campaign, "abandoned" if i == 0 else "human", ago)

    class NoAgents:
        def on_call_handled(self, listener) -> None:
            pass

    config = CampaignConfig(name="ledger", dial_mode="predictive", compliance="uk")
    period = config.compliance_profile().abandon_period
    pacing = LivePacing(config.pacing_policy(), NoAgents(), None, clock=lambda: 10_000.0)
    pacing.remember(history_of(await storage.campaigns.calls_over(campaign, period)))
    assert isinstance(pacing.policy, PredictivePolicy)
    assert (pacing.policy.ledger.lives, pacing.policy.ledger.abandons) == (3, 1)
