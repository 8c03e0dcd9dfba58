"""Scenario files for the pacing simulator (TOML), validated with errors that name the key.

[population]                 # what happens when a number is dialled
human_rate = 0.30            # a live person answers; or a step schedule [[t_seconds, rate], ...]
machine_rate = 0.15          # voicemail answers (number or schedule, as above)
busy_rate = 0.05             # busy at once; everything else rings until the ring timeout
ring_seconds = { dist = "lognormal", mean = 12.0, sd = 6.0 }   # time to answer when answered
[agents]
count = 20
talk_seconds = { dist = "lognormal", mean = 90.0, sd = 60.0 }
wrap_seconds = { dist = "lognormal", mean = 15.0, sd = 5.0 }
[campaign]
duration_seconds = 28800
abandon_target = 0.03        # share of live answers allowed to find no agent
amd_seconds = 2.5            # time AMD takes after answer
ring_timeout_seconds = 25
seed = 1

Distributions: `fixed` (value), `exponential` (mean), `lognormal` (mean, sd).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pbx_engine.config import ConfigError, _describe, read_toml


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fixed(_Section):
    dist: Literal["fixed"]
    value: float = Field(ge=0)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        value = self.value
        return lambda: value

    @property
    def mean_value(self) -> float:
        return self.value


class Exponential(_Section):
    dist: Literal["exponential"]
    mean: float = Field(gt=0)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        rate = 1.0 / self.mean
        return lambda: rng.expovariate(rate)

    @property
    def mean_value(self) -> float:
        return self.mean


class LogNormal(_Section):
    dist: Literal["lognormal"]
    mean: float = Field(gt=0)
    sd: float = Field(ge=0)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        sigma = math.sqrt(math.log(1.0 + (self.sd / self.mean) ** 2))
        mu = math.log(self.mean) - sigma * sigma / 2.0
        return lambda: rng.lognormvariate(mu, sigma)

    @property
    def mean_value(self) -> float:
        return self.mean


Distribution = Annotated[Fixed | Exponential | LogNormal, Field(discriminator="dist")]
Rate = float | list[tuple[float, float]]


def _check_rate(value: Rate) -> Rate:
    if isinstance(value, float | int):
        if not 0 <= value <= 1:
            raise ValueError("a rate is a share between 0 and 1")
        return float(value)
    if not value:
        raise ValueError("a schedule needs at least one [t_seconds, rate] step")
    times = [t for t, _ in value]
    if times != sorted(times) or len(set(times)) != len(times):
        raise ValueError("schedule steps must be in increasing time order")
    if times[0] != 0:
        raise ValueError("a schedule's first step must be at t = 0")
    if any(not 0 <= r <= 1 for _, r in value):
        raise ValueError("a rate is a share between 0 and 1")
    return [(float(t), float(r)) for t, r in value]


class RateSchedule:
    """A rate that is constant or steps at given times."""

    def __init__(self, rate: Rate) -> None:
        steps = [(0.0, rate)] if isinstance(rate, float | int) else list(rate)
        self.times = [t for t, _ in steps]
        self.values = [float(r) for _, r in steps]

    def at(self, t: float) -> float:
        return self.values[max(0, bisect_right(self.times, t) - 1)]

    def positive_between(self, start: float, end: float) -> bool:
        """Is the rate above zero at some moment in [start, end]?"""
        first = max(0, bisect_right(self.times, start) - 1)
        last = max(0, bisect_right(self.times, end) - 1)
        return any(v > 0 for v in self.values[first : last + 1])


class Population(_Section):
    human_rate: Rate
    machine_rate: Rate = 0.0
    busy_rate: Rate = 0.0
    ring_seconds: Distribution

    @field_validator("human_rate", "machine_rate", "busy_rate")
    @classmethod
    def _rate(cls, value: Rate) -> Rate:
        return _check_rate(value)

    @model_validator(mode="after")
    def _shares_fit(self) -> Population:
        schedules = [RateSchedule(r) for r in (self.human_rate, self.machine_rate, self.busy_rate)]
        moments = sorted({t for s in schedules for t in s.times})
        for t in moments:
            if sum(s.at(t) for s in schedules) > 1.0 + 1e-9:
                raise ValueError(f"human, machine and busy rates add up to more than 1 at t={t:g}")
        return self


class Agents(_Section):
    count: int = Field(ge=0, le=10_000)
    talk_seconds: Distribution
    wrap_seconds: Distribution


class Campaign(_Section):
    duration_seconds: float = Field(gt=0, le=7 * 86400)
    abandon_target: float = Field(0.03, gt=0, le=1)
    amd_seconds: float = Field(2.5, ge=0)
    ring_timeout_seconds: float = Field(25.0, gt=0)
    abandon_grace_seconds: float = Field(2.0, ge=0, description="wait for an agent after AMD")
    seed: int = 1
    seeds: int = Field(3, ge=1, le=100, description="runs per policy in the benchmark")
    tick_seconds: float = Field(1.0, gt=0, le=60, description="how often the policy decides")
    max_lines: int = Field(1000, ge=1)
    dial_level: float = Field(1.5, ge=0, le=50, description="for the ratio policy")


class Scenario(_Section):
    name: str = ""
    description: str = ""
    population: Population
    agents: Agents
    campaign: Campaign


def parse_scenario(raw: dict, source: str = "<scenario>") -> Scenario:
    try:
        return Scenario.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, source)) from None


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    scenario = parse_scenario(read_toml(path), str(path))
    if not scenario.name:
        scenario = scenario.model_copy(update={"name": path.stem})
    return scenario
