"""`pbx-engine bench pacing`: policies on a scenario over several seeds, against the bound.

Each policy runs one simulated shift per seed; figures are averaged over the seeds (the worst
hour is the worst seen on any seed). The clairvoyant bound comes last, so every policy's
occupancy reads as a share of it.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from pbx_engine.lab.pacing.scenario import Scenario
from pbx_engine.lab.pacing.sim import BUCKET_SECONDS, ShiftResult, clairvoyant, simulate

DEFAULT_POLICIES = ("progressive", "ratio", "adaptive", "predictive")
CLAIRVOYANT = "clairvoyant"


@dataclass
class PolicySummary:
    policy: str
    occupancy: float
    abandon_rate: float
    max_hourly_abandon_rate: float
    connects_per_agent_hour: float
    calls_placed: float
    mean_agent_wait: float
    share_of_bound: float | None = None
    # Over the seeds: occupancy per 15 minutes, abandons / live answers per hour.
    occupancy_timeline: list[float] = field(default_factory=list)
    abandon_timeline: list[float] = field(default_factory=list)

    def as_json(self, scenario: str) -> dict:
        return {
            "scenario": scenario,
            "policy": self.policy,
            "occupancy": round(self.occupancy, 4),
            "abandon_rate": round(self.abandon_rate, 4),
            "max_hourly_abandon_rate": round(self.max_hourly_abandon_rate, 4),
            "connects_per_agent_hour": round(self.connects_per_agent_hour, 2),
            "calls_placed": round(self.calls_placed, 1),
            "mean_agent_wait_seconds": round(self.mean_agent_wait, 2),
            "share_of_bound": (
                None if self.share_of_bound is None else round(self.share_of_bound, 4)
            ),
        }


def _summarise(policy: str, runs: list[ShiftResult]) -> PolicySummary:
    n = len(runs)
    buckets = len(runs[0].timeline)
    agents = runs[0].agents
    occupancy_timeline = [
        sum(r.timeline[i].talk_seconds for r in runs) / (n * agents * BUCKET_SECONDS or 1)
        for i in range(buckets)
    ]
    per_hour = int(3600 // BUCKET_SECONDS)
    abandon_timeline = []
    for first in range(0, buckets, per_hour):
        hour = [b for r in runs for b in r.timeline[first : first + per_hour]]
        lives = sum(b.lives for b in hour)
        abandon_timeline.append(sum(b.abandons for b in hour) / lives if lives else 0.0)
    return PolicySummary(
        policy=policy,
        occupancy=sum(r.occupancy for r in runs) / n,
        abandon_rate=sum(r.abandon_rate for r in runs) / n,
        max_hourly_abandon_rate=max(r.max_hourly_abandon_rate for r in runs),
        connects_per_agent_hour=sum(r.connects_per_agent_hour for r in runs) / n,
        calls_placed=sum(r.calls_placed for r in runs) / n,
        mean_agent_wait=sum(r.mean_agent_wait for r in runs) / n,
        occupancy_timeline=occupancy_timeline,
        abandon_timeline=abandon_timeline,
    )


def _one(job: tuple[Scenario, str, int]) -> ShiftResult:
    scenario, policy, seed = job
    if policy == CLAIRVOYANT:
        return clairvoyant(scenario, seed)
    return simulate(scenario, policy, seed)


def run_bench(
    scenario: Scenario,
    policies: tuple[str, ...] | list[str] = DEFAULT_POLICIES,
    seeds: int | None = None,
    jobs: int | None = None,
) -> list[PolicySummary]:
    """Summaries, one per policy in the order given, then the clairvoyant bound."""
    count = seeds or scenario.campaign.seeds
    seed_list = [scenario.campaign.seed + i for i in range(count)]
    names = [*policies, CLAIRVOYANT]
    work = [(scenario, name, seed) for name in names for seed in seed_list]
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and len(work) > 1:
        with ProcessPoolExecutor(min(jobs, len(work))) as pool:
            results = list(pool.map(_one, work))
    else:
        results = [_one(job) for job in work]
    summaries = [
        _summarise(name, results[i * count : (i + 1) * count]) for i, name in enumerate(names)
    ]
    bound = summaries[-1].occupancy
    for summary in summaries:
        summary.share_of_bound = summary.occupancy / bound if bound else None
    return summaries


def format_table(scenario: Scenario, summaries: list[PolicySummary], seeds: int) -> str:
    campaign = scenario.campaign
    lines = [
        f"{scenario.name}: {scenario.agents.count} agents, "
        f"{campaign.duration_seconds / 3600:g} h, abandon target {campaign.abandon_target:.1%}, "
        f"{seeds} seed(s)",
    ]
    if scenario.description:
        lines.append(f"  {scenario.description}")
    header = (
        f"  {'policy':<20} {'occupancy':>9} {'of bound':>8} {'abandons':>8} {'worst hour':>10}"
        f" {'connects/agent-h':>16} {'calls placed':>12} {'agent wait s':>12}"
    )
    lines.append(header)
    for s in summaries:
        share = f"{s.share_of_bound:.1%}" if s.share_of_bound is not None else "-"
        lines.append(
            f"  {s.policy:<20} {s.occupancy:>9.1%} {share:>8} {s.abandon_rate:>8.2%}"
            f" {s.max_hourly_abandon_rate:>10.2%} {s.connects_per_agent_hour:>16.1f}"
            f" {s.calls_placed:>12.0f} {s.mean_agent_wait:>12.1f}"
        )
    return "\n".join(lines)
