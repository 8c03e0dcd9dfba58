"""The pacing policies. Each answers one question, many times a second: how many new calls now?

- `progressive`: one call in flight per ready agent. Nobody is ever abandoned; agents wait
  through every ring.
- `ratio`: a fixed dial level, VICIdial's RATIO method: lines = level x (ready + talking agents).
- `adaptive`: VICIdial's adaptive methods, re-implemented from the behaviour of its
  `AST_VDadapt.pl` (ADAPT_TAPERED by default; ADAPT_HARD_LIMIT and ADAPT_AVERAGE as variants).
- `predictive`: ours. It forecasts, from what it has learned, how many agents will be free when
  a call placed now would reach one and how many live people the calls already placed will
  bring, and places as many calls as the abandon budget allows. The budget is spent over the
  campaign: running under target earns room, running over takes it back.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

from pbx_engine.pacing.floor import (
    CallFate,
    CallObserved,
    CampaignHistory,
    FloorState,
    HandleObserved,
    Observation,
    PacingPolicy,
)
from pbx_engine.pacing.learning import AbandonLedger, FateRates, SampleWindow

DEFAULT_MAX_LINES = 1000
_STANDARD = NormalDist()


def _lines_left(floor: FloorState, max_lines: int) -> int:
    return max(0, max_lines - floor.in_flight - len(floor.in_call))


class ProgressivePolicy:
    """One call in flight per ready agent, so a live answer always finds an agent."""

    name = "progressive"

    def __init__(self, *, max_lines: int = DEFAULT_MAX_LINES) -> None:
        self.max_lines = max_lines

    def observe(self, observation: Observation) -> None:
        pass

    def calls_to_place(self, floor: FloorState) -> int:
        wanted = floor.ready - floor.in_flight
        return max(0, min(wanted, _lines_left(floor, self.max_lines)))


class RatioPolicy:
    """A fixed dial level: calls up = level x agents who are ready or talking, counting the
    calls agents are talking on (VICIdial's RATIO method)."""

    name = "ratio"

    def __init__(self, dial_level: float = 1.5, *, max_lines: int = DEFAULT_MAX_LINES) -> None:
        if dial_level < 0:
            raise ValueError("dial level must not be negative")
        self.dial_level = dial_level
        self.max_lines = max_lines

    def observe(self, observation: Observation) -> None:
        pass

    def calls_to_place(self, floor: FloorState) -> int:
        return _calls_for_level(self.dial_level, floor, self.max_lines)


def _calls_for_level(level: float, floor: FloorState, max_lines: int) -> int:
    agents = floor.ready + len(floor.in_call)
    goal = round(level * agents)
    up = floor.in_flight + len(floor.in_call)
    return max(0, min(goal - up, _lines_left(floor, max_lines)))


class AdaptivePolicy:
    """VICIdial's adaptive dial level, as its AST_VDadapt.pl behaves (our own code).

    Every second it samples ready agents, live calls waiting for an agent and working agents,
    keeping the last 15 samples. Every 15 seconds it moves the dial level by the share
    (average ready - average waiting + dl_diff_target) / average agents, scaled by the
    intensity setting (-40..40), and keeps it within [1, maximum level]. Then the drop rules:
    more than half of the last minute's calls dropped (with over 20 calls) halves the level;
    the day's drops over answers above the target (with over 50 calls) sets it to 1.0
    (hard limit), halves it (average), or scales it by the hours left to the latest dialing
    time over ten (tapered). Drop figures are refreshed once a minute, as VICIdial does.
    """

    VARIANTS = ("tapered", "hard_limit", "average")

    def __init__(
        self,
        *,
        abandon_target: float = 0.03,
        variant: str = "tapered",
        initial_level: float = 1.0,
        maximum_level: float = 3.0,
        intensity: float = 0.0,
        dl_diff_target: float = 0.0,
        shift_end: float | None = None,
        max_lines: int = DEFAULT_MAX_LINES,
    ) -> None:
        if variant not in self.VARIANTS:
            raise ValueError(f"unknown adaptive variant {variant!r}")
        self.name = "adaptive" if variant == "tapered" else f"adaptive-{variant.replace('_', '-')}"
        self.variant = variant
        self.abandon_target = abandon_target
        self.level = initial_level
        self.maximum_level = maximum_level
        self.intensity = max(-40.0, min(40.0, intensity))
        self.dl_diff_target = dl_diff_target
        self.shift_end = shift_end
        self.max_lines = max_lines
        self._samples: deque[tuple[int, int, int]] = deque(maxlen=15)
        self._last_sample: float | None = None
        self._last_adjust: float | None = None
        self._last_drops: float | None = None
        self._settled: deque[tuple[float, bool]] = deque()  # (when, dropped), last minute
        self._calls_today = 0
        self._answers_today = 0
        self._drops_today = 0
        # The figures as of the last once-a-minute refresh.
        self._calls_minute = 0
        self._drops_minute = 0
        self._drops_over_answers_today = 0.0
        self._calls_today_seen = 0

    def observe(self, observation: Observation) -> None:
        if not isinstance(observation, CallObserved):
            return
        self._calls_today += 1
        if observation.fate is CallFate.HUMAN:
            self._answers_today += 1
            self._drops_today += observation.abandoned
        self._settled.append((observation.at, observation.abandoned))

    def remember(self, history: CampaignHistory, now: float) -> None:
        """The day's drops and answers on record before this policy count in its drop rule."""
        self._calls_today += history.calls
        self._answers_today += history.lives
        self._drops_today += history.abandons

    def calls_to_place(self, floor: FloorState) -> int:
        now = floor.now
        if self._last_sample is None or now - self._last_sample >= 1.0:
            self._last_sample = now
            total = floor.agents + floor.paused
            self._samples.append((floor.ready, len(floor.waiting), total))
        if self._last_drops is None or now - self._last_drops >= 60.0:
            self._last_drops = now
            self._refresh_drops(now)
        if self._last_adjust is None:
            self._last_adjust = now
        elif now - self._last_adjust >= 15.0:
            self._last_adjust = now
            self._adjust(now)
        return _calls_for_level(self.level, floor, self.max_lines)

    def _refresh_drops(self, now: float) -> None:
        while self._settled and self._settled[0][0] <= now - 60.0:
            self._settled.popleft()
        self._calls_minute = len(self._settled)
        self._drops_minute = sum(dropped for _, dropped in self._settled)
        self._calls_today_seen = self._calls_today
        self._drops_over_answers_today = self._drops_today / max(1, self._answers_today)

    def _adjust(self, now: float) -> None:
        n = len(self._samples)
        agents_avg = sum(s[2] for s in self._samples) / n if n else 0.0
        if agents_avg <= 0:
            return  # VICIdial leaves the level alone while nobody is logged in
        differential = (
            sum(s[0] for s in self._samples) / n - sum(s[1] for s in self._samples) / n
        ) + self.dl_diff_target
        share = differential / agents_avg
        scale = self.intensity / 100.0
        share *= abs(scale - 1.0) if share < 0 else scale + 1.0
        level = min(self.level * (1.0 + share), self.maximum_level)
        level = max(level, 1.0)
        if self._calls_minute > 20 and self._drops_minute / self._calls_minute > 0.5:
            level /= 2.0
        if self._calls_today_seen > 50 and self._drops_over_answers_today > self.abandon_target:
            if self.variant == "hard_limit":
                level = 1.0
            elif self.variant == "average":
                level /= 2.0
            else:
                level *= self._tapered_rate(now)
        self.level = max(level, 1.0)

    def _tapered_rate(self, now: float) -> float:
        """Hours left to the latest dialing time over ten, at most 1 (0 once past it).
        A level cut to below 1 is raised back to 1 by the caller."""
        if self.shift_end is None:
            return 1.0
        hours_left = (self.shift_end - now) / 3600.0
        if hours_left < 0:
            return 0.0
        return min(1.0, hours_left / 10.0)


class PredictivePolicy:
    """Our pacing model: place a call when the chance it finds no agent is small enough.

    At each decision it forecasts, from what it has learned, the next half minute at a few
    moments t (the moments a new call would reach an agent if answered by a person: one per
    sixth of the distribution of ring time plus AMD time):
    - supply by t + grace: the ready agents, plus for each agent talking or wrapping up the
      chance he is free by then, from the distributions of talk and wrap times conditioned on
      how long he has been at it;
    - demand by t: the live people waiting, the calls under AMD that will be people, and for
      each call still ringing (conditioned on how long it has rung) the chance a person
      answers it by t;
    - the other new calls placed with it, each a person reaching an agent by t with p(live)
      times the share of answers that come that quickly.
    A new call arriving at t finds no agent when the people ahead of it take up every agent
    free by t + grace. Sums of independent chances are taken as normal. It places the largest
    number of calls for which the last one's chance of finding no agent, averaged over when it
    would arrive, stays under `risk`.

    The model is calibrated: its `risk` comes out close to the abandon rate it yields, on small
    and large floors alike. What it misses is learned: every live answer that found an agent
    raises `risk` a little, every abandon cuts it, in the proportion that balances exactly at
    the wanted abandon rate (stochastic approximation). The wanted rate is `aim` x the target,
    adjusted by the campaign's record so far: a campaign under target spends its budget over
    the next half hour, one over target pays it back. A campaign more than 1.5 x the target
    over the last hour aims at a quarter of the target until it recovers, so no hour runs far
    above the cap.

    Answer rates are learned twice, with a 15-minute and a 1-minute half-life; the human rate
    used is the slow one unless the fast one is clearly higher: a jump in answer rate is caught
    within a minute, a drop is followed slowly, which errs towards fewer abandons. Until it has
    seen enough (30 settled calls, 5 finished conversations, one ring timeout) it dials
    progressively.
    """

    name = "predictive"
    MIN_TALK_SAMPLES = 5
    MIN_SETTLED_CALLS = 30
    ARRIVAL_MOMENTS = 6

    def __init__(
        self,
        *,
        abandon_target: float = 0.03,
        abandon_grace: float = 2.0,
        aim: float = 0.9,
        spend_window: float = 1800.0,
        learning_rate: float = 0.01,
        max_lines: int = DEFAULT_MAX_LINES,
        max_calls_per_agent: float = 25.0,
        amd_false_positive_share: float = 0.0,
    ) -> None:
        self.abandon_target = abandon_target
        self.amd_false_positive_share = amd_false_positive_share
        self.abandon_grace = abandon_grace
        self.aim = aim
        self.spend_window = spend_window
        self.learning_rate = learning_rate
        self.max_lines = max_lines
        self.max_calls_per_agent = max_calls_per_agent
        self.slow = FateRates(half_life=900.0)
        self.fast = FateRates(half_life=60.0)
        self.ring = SampleWindow(1000)  # placed -> answered, answered calls only
        self.unanswered = SampleWindow(200)  # placed -> given up, no-answer calls
        self.amd = SampleWindow(200)
        self.talk = SampleWindow(1000)
        self.wrap = SampleWindow(1000)
        self.ledger = AbandonLedger()
        self.risk = abandon_target / 2  # starts cautious; learned from live answers
        self._first_seen: float | None = None

    # ------------------------------------------------------------------ learning
    def observe(self, observation: Observation) -> None:
        if isinstance(observation, HandleObserved):
            self.talk.add(observation.talk_seconds)
            self.wrap.add(observation.wrap_seconds)
            return
        if self._first_seen is None:
            self._first_seen = observation.at
        self.slow.add(observation.at, observation.fate)
        self.fast.add(observation.at, observation.fate)
        if observation.amd_seconds is not None:
            self.ring.add(observation.ring_seconds)
            self.amd.add(observation.amd_seconds)
        elif observation.fate is CallFate.NO_ANSWER:
            self.unanswered.add(observation.ring_seconds)
        if observation.fate is CallFate.HUMAN:
            self._learn_risk(observation.at, observation.abandoned)
            self.ledger.add(observation.at, observation.abandoned)
        elif observation.fate is CallFate.MACHINE and self.amd_false_positive_share:
            # Where the regulator counts people AMD took for machines, the budget pays for the
            # estimated share of them too.
            self.ledger.add(observation.at, True, weight=self.amd_false_positive_share)

    def remember(self, history: CampaignHistory, now: float) -> None:
        """The campaign's calls before this policy count against its abandon budget: those of
        the last hour in the hour's ledger too. What it learned of the floor (answer rates,
        ring and talk times) it learns again: the floor may have changed."""
        recent = sorted(history.last_hour, key=lambda live: -live[0])  # oldest first
        for ago, abandoned in recent:
            self.ledger.add(now - ago, abandoned)
        self.ledger.remember(
            history.lives - len(recent), history.abandons - sum(a for _, a in recent)
        )
        if self.amd_false_positive_share:
            share = history.machines * self.amd_false_positive_share
            self.ledger.remember(share, share)
        if history.span > 0 and history.lives:
            self._first_seen = now - history.span

    def _learn_risk(self, now: float, abandoned: bool) -> None:
        wanted = self.wanted_rate(now)
        step = -(1.0 - wanted) / wanted if abandoned else 1.0
        self.risk = min(0.5, max(1e-4, self.risk * math.exp(self.learning_rate * step)))

    def wanted_rate(self, now: float) -> float:
        """The abandon rate to run at from now: the aim, plus what is left of the campaign's
        budget spread over the next `spend_window` seconds of live answers."""
        target = self.abandon_target
        aim = target * self.aim
        elapsed = now - self._first_seen if self._first_seen is not None else 0.0
        lives_per_second = self.ledger.lives / elapsed if elapsed > 60.0 else 0.0
        coming = max(lives_per_second * self.spend_window, 30.0)
        wanted = aim + (aim * self.ledger.lives - self.ledger.abandons) / coming
        lives_hour, abandons_hour = self.ledger.last_hour(now)
        if lives_hour >= 30 and abandons_hour > 1.5 * target * lives_hour:
            wanted = min(wanted, 0.25 * target)
        return min(max(wanted, 0.1 * target), 1.5 * target)

    def hour_brake(self, now: float) -> bool:
        """One more abandon would bring the last hour near twice the target: dial only for
        agents who are ready, which abandons nobody, until the hour has room again."""
        lives, abandons = self.ledger.last_hour(now)
        return lives >= 20 and abandons + 1 > 0.9 * 2 * self.abandon_target * (lives + 1)

    def human_share(self) -> float:
        slow = self.slow.share(CallFate.HUMAN)
        fast = self.fast.share(CallFate.HUMAN)
        n = max(self.fast.weight, 1.0)
        margin = 2.0 * math.sqrt(max(fast * (1.0 - fast), 1e-6) / n)
        return min(1.0, max(slow, fast - margin))

    def warmed_up(self, now: float) -> bool:
        """Has it seen enough to predict? Until then it dials progressively: early outcomes
        are skewed (busy signals come back in a second, unanswered calls only after the ring
        timeout), and nothing is known of how long calls last."""
        return (
            len(self.talk) >= self.MIN_TALK_SAMPLES
            and self.slow.weight >= self.MIN_SETTLED_CALLS
            and self._first_seen is not None
            and now - self._first_seen >= self.unanswered.quantile(0.5, 30.0)
        )

    # ------------------------------------------------------------------ deciding
    def calls_to_place(self, floor: FloorState) -> int:
        working = floor.agents
        if working == 0:
            return 0
        cap = min(
            _lines_left(floor, self.max_lines),
            max(0, math.floor(self.max_calls_per_agent * working) - floor.in_flight),
        )
        if cap == 0:
            return 0
        if not self.warmed_up(floor.now) or self.hour_brake(floor.now):
            return min(cap, max(0, floor.ready - floor.in_flight))
        moments = self._forecast(floor)
        risk = self.risk

        def too_risky(n: int) -> bool:
            """Would the n-th new call, on average over when it arrives, find no agent?"""
            total = 0.0
            for surplus_mean, var, q in moments:
                mean = surplus_mean + (n - 1) * q
                sd = math.sqrt(var + (n - 1) * q * (1.0 - q))
                # people ahead >= agents free, for whole numbers: P(X >= -0.5)
                total += 1.0 - _STANDARD.cdf((-0.5 - mean) / max(sd, 1e-6))
            return total / len(moments) > risk

        if too_risky(1):
            return 0
        if not too_risky(cap):
            return cap
        low, high = 1, cap  # the low-th call is fine, the high-th too risky
        while high - low > 1:
            mid = (low + high) // 2
            if too_risky(mid):
                high = mid
            else:
                low = mid
        return low

    def _forecast(self, floor: FloorState) -> list[tuple[float, float, float]]:
        """For each moment a new call may reach an agent: mean and variance of (people ahead
        of it - agents free for it), and the chance another new call is a person there by
        then."""
        p_human = self.human_share()
        p_machine = self.slow.share(CallFate.MACHINE)
        p_no_answer = self.slow.share(CallFate.NO_ANSWER)
        ring_timeout = self.unanswered.quantile(0.5, 30.0)
        amd = self.amd.mean(2.5)
        person = p_human / max(p_human + p_machine, 1e-9)  # of the answered, how many live
        base_mean = len(floor.waiting) + person * len(floor.in_amd)
        base_var = person * (1.0 - person) * len(floor.in_amd)
        # (calls, age, P(answered later), P(not settled yet)) per age of calls still ringing
        ringing = []
        survives = self.ring.survives
        for age, calls in _binned(floor.ringing):
            still = survives(age)
            pending = (p_human + p_machine) * still + (p_no_answer if age < ring_timeout else 0)
            if pending > 0:
                ringing.append((calls, age, still, pending))
        talking = _binned(floor.in_call)
        wrapping = _binned(floor.wrap_up)
        moments = []
        for k in range(self.ARRIVAL_MOMENTS):
            share = (k + 0.5) / self.ARRIVAL_MOMENTS
            ring_by = self.ring.quantile(share, 20.0 * share)
            supply_mean, supply_var = self._supply(
                floor.ready, talking, wrapping, ring_by + amd + self.abandon_grace
            )
            demand_mean, demand_var = base_mean, base_var
            for calls, age, still, pending in ringing:
                p = p_human * (still - survives(age + ring_by)) / pending
                demand_mean += calls * p
                demand_var += calls * p * (1.0 - p)
            moments.append((demand_mean - supply_mean, demand_var + supply_var, p_human * share))
        return moments

    def _supply(
        self,
        ready: int,
        talking: list[tuple[float, int]],
        wrapping: list[tuple[float, int]],
        reach: float,
    ) -> tuple[float, float]:
        """Mean and variance of the agents free within `reach` seconds."""
        mean, var = float(ready), 0.0
        wrap_typical = self.wrap.mean(0.0)
        talk_ends, wrap_ends = self.talk.ends_within, self.wrap.ends_within
        for talked, agents in talking:
            p = talk_ends(talked, reach - wrap_typical)
            mean += agents * p
            var += agents * p * (1.0 - p)
        for wrapped, agents in wrapping:
            p = wrap_ends(wrapped, reach)
            mean += agents * p
            var += agents * p * (1.0 - p)
        return mean, var


def _binned(ages: tuple[float, ...], resolution: float = 0.5) -> list[tuple[float, int]]:
    """Ages rounded to `resolution` and counted: the same chance is computed once per group
    (many calls are placed in the same tick and share an age)."""
    counts: dict[float, int] = {}
    for age in ages:
        key = round(age / resolution) * resolution
        counts[key] = counts.get(key, 0) + 1
    return list(counts.items())


@dataclass(frozen=True)
class PolicySettings:
    """Everything a policy may be built from; each factory takes what its policy uses."""

    abandon_target: float = 0.03
    dial_level: float = 1.5  # the ratio policy's
    max_lines: int = DEFAULT_MAX_LINES
    shift_end: float | None = None  # seconds into the shift (the adaptive policies taper)
    amd_false_positive_share: float = 0.0


def _adaptive(variant: str) -> Callable[[PolicySettings], AdaptivePolicy]:
    def build(settings: PolicySettings) -> AdaptivePolicy:
        return AdaptivePolicy(
            abandon_target=settings.abandon_target,
            variant=variant,
            shift_end=settings.shift_end,
            max_lines=settings.max_lines,
        )

    return build


# The one list of policies, by the name campaign files, scenarios and the bench use.
POLICIES: dict[str, Callable[[PolicySettings], PacingPolicy]] = {
    "progressive": lambda s: ProgressivePolicy(max_lines=s.max_lines),
    "ratio": lambda s: RatioPolicy(s.dial_level, max_lines=s.max_lines),
    "adaptive": _adaptive("tapered"),
    "adaptive-hard-limit": _adaptive("hard_limit"),
    "adaptive-average": _adaptive("average"),
    "predictive": lambda s: PredictivePolicy(
        abandon_target=s.abandon_target,
        max_lines=s.max_lines,
        amd_false_positive_share=s.amd_false_positive_share,
    ),
}

POLICY_NAMES = tuple(POLICIES)


def make_policy(
    name: str,
    *,
    abandon_target: float = 0.03,
    dial_level: float = 1.5,
    max_lines: int = DEFAULT_MAX_LINES,
    shift_end: float | None = None,
    amd_false_positive_share: float = 0.0,
) -> PacingPolicy:
    """A fresh policy by name (see POLICIES)."""
    factory = POLICIES.get(name)
    if factory is None:
        raise ValueError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})")
    return factory(
        PolicySettings(
            abandon_target=abandon_target,
            dial_level=dial_level,
            max_lines=max_lines,
            shift_end=shift_end,
            amd_false_positive_share=amd_false_positive_share,
        )
    )
