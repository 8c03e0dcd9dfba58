"""What a policy learns from finished calls: outcome rates, durations, abandons so far.

Small online estimators with bounded memory, cheap enough to query many times a second:
- `SampleWindow`: the most recent samples of a duration, kept sorted, for quantiles and
  conditional probabilities ("a call that has talked 60 s: will it end within 20 s more?");
- `FateRates`: the share of each call fate, forgetting old calls exponentially in time so a
  change of answer rate through the day is followed;
- `AbandonLedger`: live answers and abandons over the whole campaign and the last hour.
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from collections import deque
from dataclasses import dataclass, field

from pbx_engine.pacing.floor import CallFate


class SampleWindow:
    """The last `capacity` samples, in arrival order and sorted."""

    def __init__(self, capacity: int = 500) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._arrivals: deque[float] = deque()
        self._sorted: list[float] = []
        self._sum = 0.0

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, value: float) -> None:
        value = max(0.0, float(value))
        self._arrivals.append(value)
        insort(self._sorted, value)
        self._sum += value
        if len(self._arrivals) > self._capacity:
            oldest = self._arrivals.popleft()
            del self._sorted[bisect_right(self._sorted, oldest) - 1]
            self._sum -= oldest

    def mean(self, default: float) -> float:
        return self._sum / len(self._sorted) if self._sorted else default

    def quantile(self, q: float, default: float) -> float:
        if not self._sorted:
            return default
        index = min(len(self._sorted) - 1, max(0, int(q * len(self._sorted))))
        return self._sorted[index]

    def share_at_most(self, value: float) -> float:
        """P(X <= value) over the window; 0 when empty."""
        if not self._sorted:
            return 0.0
        return bisect_right(self._sorted, value) / len(self._sorted)

    def ends_within(self, elapsed: float, more: float) -> float:
        """P(X <= elapsed + more | X > elapsed): will something that has lasted `elapsed`
        end within `more` seconds? 1 when the window holds nothing that long (it is overdue,
        and everything seen so far has ended by now)."""
        if more <= 0 or not self._sorted:
            return 0.0
        n = len(self._sorted)
        done = bisect_right(self._sorted, elapsed)
        if done >= n:
            return 1.0
        by_then = bisect_right(self._sorted, elapsed + more)
        return (by_then - done) / (n - done)

    def survives(self, elapsed: float) -> float:
        """P(X > elapsed); 1 when empty."""
        if not self._sorted:
            return 1.0
        return 1.0 - bisect_right(self._sorted, elapsed) / len(self._sorted)


_FATES = tuple(CallFate)


class FateRates:
    """Share of each fate among settled calls, each call's weight halving every
    `half_life` seconds. A prior of `prior_weight` calls, all HUMAN, keeps a policy cautious
    before anything is known: it first assumes every call is answered by a person."""

    def __init__(self, half_life: float, prior_weight: float = 3.0) -> None:
        self._decay_per_second = math.log(2) / half_life
        self._weights = dict.fromkeys(_FATES, 0.0)
        self._prior_weight = prior_weight
        self._last = None

    def _decay_to(self, now: float) -> None:
        if self._last is not None and now > self._last:
            factor = math.exp(-(now - self._last) * self._decay_per_second)
            for fate in _FATES:
                self._weights[fate] *= factor
        if self._last is None or now > self._last:
            self._last = now

    def add(self, now: float, fate: CallFate) -> None:
        self._decay_to(now)
        self._weights[fate] += 1.0

    @property
    def weight(self) -> float:
        """Effective number of calls behind the estimate."""
        return sum(self._weights.values())

    def share(self, fate: CallFate) -> float:
        prior = self._prior_weight if fate is CallFate.HUMAN else 0.0
        return (self._weights[fate] + prior) / (self.weight + self._prior_weight)


@dataclass
class AbandonLedger:
    """Live answers and abandons: over the campaign, and over the last hour. Counts may be
    fractional: a machine verdict can count as a share of an abandoned person (Ofcom's
    estimate of AMD false positives)."""

    lives: float = 0.0
    abandons: float = 0.0
    _hour: deque[tuple[float, float, float]] = field(default_factory=deque)
    _hour_lives: float = 0.0
    _hour_abandons: float = 0.0

    def add(self, now: float, abandoned: bool | float, weight: float = 1.0) -> None:
        abandoned = float(abandoned) * weight
        self.lives += weight
        self.abandons += abandoned
        self._hour.append((now, weight, abandoned))
        self._hour_lives += weight
        self._hour_abandons += abandoned
        self._expire(now)

    def _expire(self, now: float) -> None:
        while self._hour and self._hour[0][0] <= now - 3600.0:
            _, weight, abandoned = self._hour.popleft()
            self._hour_lives -= weight
            self._hour_abandons -= abandoned

    def remember(self, lives: float, abandons: float) -> None:
        """Live answers and abandons from before this ledger, older than its hour."""
        self.lives += lives
        self.abandons += abandons

    @property
    def rate(self) -> float:
        return self.abandons / self.lives if self.lives else 0.0

    def last_hour(self, now: float) -> tuple[float, float]:
        """(live answers, abandons) in the hour before `now`."""
        self._expire(now)
        return self._hour_lives, self._hour_abandons
