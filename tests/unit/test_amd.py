"""The AMD corpus plan and the benchmark's arithmetic (the calls themselves need the PBX)."""

from pathlib import Path

import pytest

from pbx_engine.amd.detectors import DETECTORS, DetectorKind
from pbx_engine.lab.amd.bench import DetectorResult, Judged, Sample, find_samples
from pbx_engine.lab.amd.corpus import MACHINES, PEOPLE, plan_corpus


def test_the_corpus_spreads_over_languages_openings_speeds_and_noise():
    items = plan_corpus(per_label=60, seed=1)
    people = [i for i in items if i.label == "human"]
    machines = [i for i in items if i.label == "machine"]
    assert len(people) == len(machines) == 60
    assert {i.language for i in people} == set(PEOPLE) == {"en", "pl", "bg", "es", "de", "ru"}
    assert {i.text for i in people if i.language == "en"} == set(PEOPLE["en"])
    assert {i.text for i in machines if i.language == "de"} == set(MACHINES["de"])
    assert {i.noise_db for i in items} == {None, -40.0, -30.0}
    assert any(i.beep for i in machines) and not any(i.beep for i in people)
    assert plan_corpus(60, seed=1) == items  # the same corpus for the same seed


def test_recall_notsure_and_decision_times():
    result = DetectorResult("app_amd")
    human, machine = Sample("human", Path("h.wav"), 0), Sample("machine", Path("m.wav"), 1)
    result.judged += [
        Judged(human, "HUMAN", 1.0),
        Judged(human, "MACHINE", 2.0),
        Judged(human, "NOTSURE", 5.0),
        Judged(human, "HUMAN", 1.2),
        Judged(machine, "MACHINE", 3.0),
        Judged(machine, "FAILED", None),
    ]
    data = result.as_json()
    assert data["human_recall"] == 0.5
    assert data["machine_recall"] == 0.5
    assert data["notsure"] == 1
    assert data["median_decision_s"] == 2.0
    assert data["p90_decision_s"] == 5.0
    assert data["median_human_decision_s"] == 1.6  # of the people's 1.0, 1.2, 2.0 and 5.0
    assert result.matrix()["human"]["MACHINE"] == 1
    assert set(data) >= {
        "detector", "human_recall", "machine_recall", "notsure", "median_decision_s",
        "p90_decision_s",
    }  # fmt: skip


def test_a_corpus_folder_is_checked(tmp_path):
    with pytest.raises(FileNotFoundError, match="no human/ folder"):
        find_samples(tmp_path)
    (tmp_path / "human").mkdir()
    (tmp_path / "machine").mkdir()
    with pytest.raises(FileNotFoundError, match="no audio files"):
        find_samples(tmp_path)
    (tmp_path / "human" / "a.wav").write_bytes(b"")
    (tmp_path / "machine" / "b.flac").write_bytes(b"")
    (tmp_path / "machine" / "notes.txt").write_text("")
    samples = find_samples(tmp_path)
    assert [(s.label, s.number) for s in samples] == [
        ("human", "+12025580000"),
        ("machine", "+12025580001"),
    ]


def test_detectors_name_their_dialplan_contexts():
    assert DETECTORS["app_amd"].context == "engine-amd"
    assert DETECTORS["app_amd-tuned"].context == "engine-amd-tuned"
    dialplan = (Path(__file__).parents[2] / "dialplans" / "engine.conf").read_text()
    for detector in DETECTORS.values():
        if detector.kind is DetectorKind.DIALPLAN:
            assert f"[{detector.context}]" in dialplan


def test_the_engine_detector_needs_no_dialplan_context():
    assert DETECTORS["engine"].kind is DetectorKind.ENGINE
    assert DETECTORS["engine"].context is None


def test_campaigns_pick_a_known_detector():
    from pydantic import ValidationError

    from pbx_engine.campaigns.config import CampaignConfig

    tuned = CampaignConfig(name="x", amd_detector="app_amd-tuned")
    assert tuned.amd_detector == "app_amd-tuned"
    assert tuned.detector is DETECTORS["app_amd-tuned"]  # looked up once, as the file is read
    assert CampaignConfig(name="x").detector is None  # the dialer's
    with pytest.raises(ValidationError, match="unknown detector 'psychic'"):
        CampaignConfig(name="x", amd_detector="psychic")


def test_the_dialer_default_detector_is_the_engine_and_is_checked_by_name():
    from pbx_engine.config import ConfigError, parse_config

    base = {"ari": {"url": "http://127.0.0.1:8088", "username": "engine"}}
    config = parse_config(base, environ={})
    assert (config.dialer.amd_detector, config.dialer.media_host) == ("engine", "127.0.0.1")
    config = parse_config({**base, "dialer": {"amd_detector": "app_amd-tuned"}}, environ={})
    assert config.dialer.amd_detector == "app_amd-tuned"
    config = parse_config({**base, "dialer": {"amd_detector": ""}}, environ={})
    assert config.dialer.amd_detector is None  # AMD() in amd_context
    with pytest.raises(ConfigError, match="unknown detector 'psychic'"):
        parse_config({**base, "dialer": {"amd_detector": "psychic"}}, environ={})


def test_the_learned_detector_is_an_engine_detector_a_campaign_can_pick():
    from pbx_engine.campaigns.config import CampaignConfig

    assert DETECTORS["learned"].kind is DetectorKind.ENGINE and DETECTORS["learned"].learned
    assert not DETECTORS["engine"].learned
    assert CampaignConfig(name="x", amd_detector="learned").detector is DETECTORS["learned"]
