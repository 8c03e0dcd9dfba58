"""A campaign's [pacing] section, the old top-level keys it replaces, and the one registry of
policies it builds from."""

import pytest
from pydantic import ValidationError

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.compliance import PROFILES
from pbx_engine.pacing.policies import POLICIES, POLICY_NAMES, RatioPolicy, make_policy


def test_given_every_registered_name_then_the_policy_built_answers_to_it():
    assert POLICY_NAMES == tuple(POLICIES)
    for name in POLICIES:
        assert make_policy(name).name == name


def test_given_a_pacing_section_then_the_policy_takes_its_settings_and_the_campaigns():
    campaign = CampaignConfig.model_validate(
        {"name": "x", "max_lines": 7, "pacing": {"policy": "ratio", "dial_ratio": 2.5}}
    )
    policy = campaign.pacing_policy()
    assert isinstance(policy, RatioPolicy)
    assert (policy.dial_level, policy.max_lines) == (2.5, 7)


def test_given_the_old_top_level_keys_then_they_mean_what_the_section_says():
    old = CampaignConfig.model_validate({"name": "x", "pacing": "ratio", "dial_ratio": 2.0})
    new = CampaignConfig.model_validate(
        {"name": "x", "pacing": {"policy": "ratio", "dial_ratio": 2.0}}
    )
    assert old == new
    only_ratio = CampaignConfig.model_validate({"name": "x", "dial_ratio": 3.0})
    assert (only_ratio.pacing.policy, only_ratio.pacing.dial_ratio) == ("predictive", 3.0)


def test_given_no_pacing_then_predictive_with_the_compliance_profiles_target():
    campaign = CampaignConfig(name="x", compliance="uk")
    policy = campaign.pacing_policy()
    assert policy.name == "predictive"
    assert policy.abandon_target == PROFILES["uk"].abandon_target
    assert policy.amd_false_positive_share == PROFILES["uk"].amd_false_positive_share


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"pacing": "psychic"}, "unknown policy 'psychic'"),
        ({"pacing": {"policy": "psychic"}}, "unknown policy 'psychic'"),
        ({"pacing": {"policy": "ratio", "dial_ratio": 2}, "dial_ratio": 3}, "given twice"),
        ({"pacing": {"dial_ratio": 9}}, "less than or equal to 5"),
        ({"pacing": {"ratio": 2}}, "Extra inputs are not permitted"),
    ],
)
def test_given_a_bad_pacing_setting_then_the_file_is_refused_saying_why(raw, message):
    with pytest.raises(ValidationError, match=message):
        CampaignConfig.model_validate({"name": "x", **raw})


def test_given_a_section_object_and_the_old_dial_ratio_then_both_are_kept():
    from pbx_engine.campaigns.config import PacingSection

    campaign = CampaignConfig(name="x", pacing=PacingSection(policy="ratio"), dial_ratio=2.0)
    assert (campaign.pacing.policy, campaign.pacing.dial_ratio) == ("ratio", 2.0)
