"""Scenario files, the shift simulator, the clairvoyant bound and `pbx-engine bench pacing`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pbx_engine.cli import main
from pbx_engine.config import ConfigError
from pbx_engine.lab.pacing.bench import run_bench
from pbx_engine.lab.pacing.plot import timeline_svg
from pbx_engine.lab.pacing.scenario import RateSchedule, load_scenario, parse_scenario
from pbx_engine.lab.pacing.sim import clairvoyant, simulate

SHIPPED = sorted((Path(__file__).parents[2] / "benchmarks" / "pacing").glob("*.toml"))


def _scenario(**changes) -> dict:
    raw = {
        "population": {
            "human_rate": 0.3,
            "machine_rate": 0.15,
            "busy_rate": 0.05,
            "ring_seconds": {"dist": "lognormal", "mean": 12.0, "sd": 6.0},
        },
        "agents": {
            "count": 6,
            "talk_seconds": {"dist": "lognormal", "mean": 90.0, "sd": 60.0},
            "wrap_seconds": {"dist": "lognormal", "mean": 15.0, "sd": 5.0},
        },
        "campaign": {"duration_seconds": 3600, "seed": 3},
    }
    for path, value in changes.items():
        *parents, key = path.split(".")
        node = raw
        for part in parents:
            node = node[part]
        node[key] = value
    return raw


# ---------------------------------------------------------------------- scenario files


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_load(path):
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.description


def test_scenario_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"population\.human_rte: unknown key"):
        parse_scenario(_scenario(**{"population.human_rte": 0.2}))
    with pytest.raises(ConfigError, match="add up to more than 1"):
        parse_scenario(_scenario(**{"population.machine_rate": 0.8}))
    with pytest.raises(ConfigError, match="first step must be at t = 0"):
        parse_scenario(_scenario(**{"population.human_rate": [[60, 0.2]]}))
    with pytest.raises(ConfigError, match="increasing time order"):
        parse_scenario(_scenario(**{"population.human_rate": [[0, 0.2], [600, 0.3], [300, 0.1]]}))
    with pytest.raises(ConfigError, match=r"agents\.talk_seconds"):
        parse_scenario(_scenario(**{"agents.talk_seconds": {"dist": "gamma", "mean": 3}}))
    with pytest.raises(ConfigError, match=r"campaign\.duration_seconds: required key is missing"):
        parse_scenario(_scenario(campaign={}))


def test_scenario_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[population\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_scenario(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")


def test_rate_schedules_step():
    schedule = RateSchedule([(0.0, 0.3), (3600.0, 0.0), (7200.0, 0.5)])
    assert schedule.at(0) == 0.3
    assert schedule.at(3599.9) == 0.3
    assert schedule.at(5000) == 0.0
    assert schedule.at(9000) == 0.5
    assert not schedule.positive_between(3700, 7100)
    assert schedule.positive_between(3500, 3700)
    assert RateSchedule(0.25).at(1e9) == 0.25


# ---------------------------------------------------------------------- simulator


def test_the_same_seed_gives_the_same_shift():
    scenario = parse_scenario(_scenario())
    first, second = simulate(scenario, "predictive"), simulate(scenario, "predictive")
    assert first.calls_placed == second.calls_placed
    assert first.talk_seconds == second.talk_seconds
    assert simulate(scenario, "predictive", seed=4).calls_placed != first.calls_placed


def test_progressive_never_abandons():
    result = simulate(parse_scenario(_scenario()), "progressive")
    assert result.lives > 50
    assert result.abandons == 0
    assert result.connects == result.lives


def test_a_ratio_far_too_high_abandons_and_is_counted():
    result = simulate(parse_scenario(_scenario(**{"campaign.dial_level": 6.0})), "ratio")
    assert result.abandon_rate > 0.2
    # people still waiting when the shift ends are neither connected nor abandoned
    assert 0 <= result.lives - result.connects - result.abandons <= 6
    assert max(result.hourly_abandon_rates()) == result.max_hourly_abandon_rate


def test_fixed_durations_give_the_expected_shift():
    """Everyone answers after 10 s; AMD takes 2 s; talk 100 s, wrap 20 s; one agent."""
    raw = _scenario(
        **{
            "population.human_rate": 1.0,
            "population.machine_rate": 0.0,
            "population.busy_rate": 0.0,
            "population.ring_seconds": {"dist": "fixed", "value": 10.0},
            "agents.count": 1,
            "agents.talk_seconds": {"dist": "fixed", "value": 100.0},
            "agents.wrap_seconds": {"dist": "fixed", "value": 20.0},
            "campaign.amd_seconds": 2.0,
            "campaign.duration_seconds": 1000.0,
        }
    )
    scenario = parse_scenario(raw)
    result = simulate(scenario, "progressive")
    # progressive: dial at 0, talk 12..112, wrap to 132, next dial at 132 (tick), talk 144...
    # each cycle 132 s; 7 full cycles start before 1000 s (0, 132, ..., 924 -> talk from 936)
    assert result.connects == 8
    assert result.abandons == 0
    assert result.talk_seconds == pytest.approx(7 * 100 + (1000 - 936))
    bound = clairvoyant(scenario)
    # clairvoyant: talk 12..112, then a person ready exactly at 132, 252, ... (cycle 120 s)
    assert bound.connects == 9  # 12, 132, 252, ..., 972
    assert bound.talk_seconds == pytest.approx(8 * 100 + (1000 - 972))
    assert bound.occupancy > result.occupancy


def test_clairvoyant_waits_out_hours_when_nobody_answers():
    raw = _scenario(
        **{
            "population.human_rate": [[0, 0.3], [900, 0.0], [2700, 0.3]],
            "agents.talk_seconds": {"dist": "fixed", "value": 50.0},
            "agents.wrap_seconds": {"dist": "fixed", "value": 10.0},
            "campaign.duration_seconds": 3600,
        }
    )
    result = clairvoyant(parse_scenario(raw))
    assert [b.lives > 0 for b in result.timeline] == [True, True, False, True]
    assert result.abandons == 0


def test_nobody_to_call_for():
    scenario = parse_scenario(_scenario(**{"agents.count": 0}))
    assert simulate(scenario, "predictive").calls_placed == 0
    assert clairvoyant(scenario).occupancy == 0.0


# ---------------------------------------------------------------------- bench and CLI


def test_bench_summarises_each_policy_then_the_bound():
    scenario = parse_scenario(_scenario())
    summaries = run_bench(scenario, ["progressive", "predictive"], seeds=2, jobs=1)
    assert [s.policy for s in summaries] == ["progressive", "predictive", "clairvoyant"]
    assert summaries[-1].share_of_bound == 1.0
    assert all(0 <= s.occupancy <= 1 for s in summaries)
    assert summaries[0].abandon_rate == 0.0
    assert len(summaries[0].occupancy_timeline) == 4  # an hour in 15-minute slices
    assert len(summaries[0].abandon_timeline) == 1  # and in hours
    svg = timeline_svg("test", summaries, duration_seconds=3600, abandon_target=0.03)
    assert svg.startswith("<svg") and "predictive" in svg


def test_bench_pacing_command_prints_json(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(
        """
[population]
human_rate = 0.3
machine_rate = 0.1
ring_seconds = { dist = "exponential", mean = 8.0 }
[agents]
count = 4
talk_seconds = { dist = "exponential", mean = 60.0 }
wrap_seconds = { dist = "fixed", value = 10.0 }
[campaign]
duration_seconds = 1800
"""
    )
    plot = tmp_path / "shift.svg"
    code = main(
        ["bench", "pacing", str(path), "--seeds", "1", "--jobs", "1", "--json"]
        + ["--policy", "adaptive", "--policy", "predictive", "--plot", str(plot)]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["policy"] for r in rows] == ["adaptive", "predictive", "clairvoyant"]
    for row in rows:
        assert {
            "policy",
            "occupancy",
            "abandon_rate",
            "max_hourly_abandon_rate",
            "connects_per_agent_hour",
            "calls_placed",
        } <= row.keys()
    assert plot.read_text().startswith("<svg")


def test_bench_pacing_command_table_and_errors(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(
        "[population]\nhuman_rate = 0.3\nring_seconds = { dist = 'fixed', value = 5 }\n"
        "[agents]\ncount = 2\ntalk_seconds = { dist = 'fixed', value = 30 }\n"
        "wrap_seconds = { dist = 'fixed', value = 5 }\n[campaign]\nduration_seconds = 600\n"
    )
    assert main(["bench", "pacing", str(path), "--seeds", "1", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "clairvoyant" in out and "of bound" in out
    assert main(["bench", "pacing", str(path), "--policy", "psychic"]) == 1
    assert "unknown policy 'psychic'" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("[agents]\ncount = -1\n")
    assert main(["bench", "pacing", str(broken)]) == 1
    assert "agents.count" in capsys.readouterr().err
