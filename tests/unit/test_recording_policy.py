from datetime import UTC, datetime, timedelta

import pytest

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.recording import RecordingMode, RecordingPolicy, plan_recordings


def test_given_no_recording_when_planned_then_nothing():
    assert plan_recordings(RecordingMode.NONE, 7) == []


def test_given_mixed_when_planned_then_one_file_named_after_the_attempt_spying_both_ways():
    [plan] = plan_recordings(RecordingMode.MIXED, 7)
    assert (plan.name, plan.leg, plan.spy) == ("attempt-7", "mixed", "both")


def test_given_separate_legs_when_planned_then_the_debtors_voice_and_what_he_hears():
    plans = plan_recordings(RecordingMode.SEPARATE, 42)
    assert [(p.name, p.leg, p.spy) for p in plans] == [
        ("attempt-42-debtor", "debtor", "in"),
        ("attempt-42-agent", "agent", "out"),
    ]


def test_given_a_call_whose_attempt_id_is_not_known_yet_when_planned_then_its_channel_names_it():
    plans = plan_recordings(RecordingMode.SEPARATE, "1722.42")
    assert [p.name for p in plans] == ["call-1722.42-debtor", "call-1722.42-agent"]
    [mixed] = plan_recordings(RecordingMode.MIXED, "1722.42")
    assert mixed.name == "call-1722.42"


def test_given_a_retention_when_a_recording_starts_then_it_may_be_deleted_that_many_days_later():
    start = datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert RecordingPolicy(RecordingMode.MIXED, 30).delete_after(start) == start + timedelta(30)


def test_given_a_campaign_file_when_it_names_a_recording_mode_then_the_policy_follows():
    campaign = CampaignConfig.model_validate(
        {"name": "c", "recording": {"mode": "separate", "retention_days": 90}}
    )
    assert campaign.recording.policy() == RecordingPolicy(RecordingMode.SEPARATE, 90)
    assert CampaignConfig(name="d").recording.policy().mode is RecordingMode.NONE
    with pytest.raises(ValueError, match="mixed"):
        CampaignConfig.model_validate({"name": "e", "recording": {"mode": "stereo"}})


@pytest.mark.parametrize(
    ("mode", "required", "failing", "blocks"),
    [
        (RecordingMode.NONE, True, True, False),  # records nothing: nothing to wait for
        (RecordingMode.MIXED, True, True, True),
        (RecordingMode.SEPARATE, True, True, True),
        (RecordingMode.MIXED, False, True, False),  # dials on unrecorded, as configured
        (RecordingMode.MIXED, True, False, False),
        (RecordingMode.NONE, False, False, False),
    ],
)
def test_given_a_policy_when_recordings_fail_then_only_a_required_recording_waits(
    mode, required, failing, blocks
):
    assert RecordingPolicy(mode, 30, required).blocks_dialling(failing) is blocks


def test_given_a_campaign_that_records_then_its_recording_is_required_unless_it_says_not():
    assert CampaignConfig(name="a", recording={"mode": "mixed"}).recording.policy().required
    relaxed = CampaignConfig(name="b", recording={"mode": "mixed", "required": False})
    assert not relaxed.recording.policy().required
