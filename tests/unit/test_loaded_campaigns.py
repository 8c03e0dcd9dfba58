"""What services learn of a campaign by its id, from the campaigns loaded in this engine."""

import pytest

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.dialer.campaign import CampaignRunner
from pbx_engine.dialer.loaded import LoadedCampaigns
from pbx_engine.recording import RecordingMode, RecordingPolicy


def _runner(campaign_id: int, **settings) -> CampaignRunner:
    campaign = CampaignConfig.model_validate(settings)
    return CampaignRunner(campaign, campaign_id, storage=None, dialer=None, agents=None)


def _loaded() -> LoadedCampaigns:
    campaigns = LoadedCampaigns()
    campaigns.add(
        _runner(
            7,
            name="spring",
            language="pl",
            caller_id="+12025550999",
            recording={"mode": "separate", "retention_days": 90},
        )
    )
    campaigns.add(_runner(8, name="summer"))
    return campaigns


async def test_given_a_loaded_campaigns_id_then_its_language_identity_and_recording_answer():
    campaigns = _loaded()

    assert campaigns.language(7) == "pl"
    assert await campaigns.presented_identity(7, "+12025550100") == ("+12025550999", None)
    assert campaigns.recording_policy(7) == RecordingPolicy(RecordingMode.SEPARATE, 90)


async def test_given_an_id_of_no_loaded_campaign_then_each_answer_is_none():
    campaigns = _loaded()

    assert campaigns.language(99) is None
    assert await campaigns.presented_identity(99, "+12025550100") == (None, None)
    assert await campaigns.presented_identity(None, "+12025550100") == (None, None)
    assert campaigns.recording_policy(99) is None


def test_given_loaded_campaigns_then_they_read_as_a_mapping_by_name():
    campaigns = _loaded()

    assert sorted(campaigns) == ["spring", "summer"]
    assert campaigns["summer"].campaign_id == 8
    assert campaigns.get("autumn") is None


def test_given_a_loaded_name_when_another_campaign_has_it_then_it_is_refused():
    campaigns = _loaded()

    with pytest.raises(ValueError, match="spring"):
        campaigns.add(_runner(9, name="spring"))
