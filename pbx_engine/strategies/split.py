"""Champion and challenger (pure): a campaign's cases split at random between two strategies,
each case always on the same side, and the two sides compared on a rate or a mean with a 95%
confidence interval and a sentence saying whether the difference is real yet.

The side comes from a hash of the campaign's split name and the case id, not from a random
draw kept somewhere: the same case lands on the same side in every process and after every
restart, and a new split name reshuffles. Rates are compared with Newcombe's interval for a
difference of proportions (from Wilson's score intervals: right for small counts and rates near
0 or 1); means (amount collected per case) with Welch's, by the normal approximation, which
wants a few dozen cases a side before it means much.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from statistics import fmean, variance

Z95 = 1.959963984540054
RATES = frozenset({"contact rate", "right-party contacts", "promises", "kept promises"})


def side_of(split: str, case_id: int, challenger_share: float) -> str:
    """`champion` or `challenger` for this case in this split."""
    digest = hashlib.sha256(f"{split}:{case_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return "challenger" if position < challenger_share else "champion"


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson(successes: int, trials: int, z: float = Z95) -> Interval:
    if trials == 0:
        return Interval(0.0, 1.0)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # At 0 or at every trial the score interval touches the bound exactly (not a hair inside).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(low, high)


@dataclass(frozen=True)
class Comparison:
    what: str
    champion: float
    challenger: float
    difference: float  # challenger minus champion
    interval: Interval  # of the difference, 95%
    champion_cases: int
    challenger_cases: int

    @property
    def settled(self) -> bool:
        """The interval leaves out zero: the difference is real (at 95%)."""
        return self.interval.low > 0 or self.interval.high < 0

    @property
    def is_rate(self) -> bool:
        return self.what in RATES

    def as_json(self) -> dict:
        return {
            "what": self.what,
            "champion": self.champion,
            "challenger": self.challenger,
            "difference": self.difference,
            "low": self.interval.low if math.isfinite(self.interval.low) else None,
            "high": self.interval.high if math.isfinite(self.interval.high) else None,
            "champion_cases": self.champion_cases,
            "challenger_cases": self.challenger_cases,
            "real": self.settled,
            "sentence": self.sentence(percent=self.is_rate),
        }

    def sentence(self, *, percent: bool = True) -> str:
        def show(x: float) -> str:
            return f"{100 * x:.1f}%" if percent else f"{x:.2f}"

        def points(x: float) -> str:
            return f"{100 * x:+.1f} points" if percent else f"{x:+.2f}"

        said = (
            f"{self.what}: challenger {show(self.challenger)} ({self.challenger_cases} cases), "
            f"champion {show(self.champion)} ({self.champion_cases} cases); difference "
            f"{points(self.difference)}, 95% interval {points(self.interval.low)} to "
            f"{points(self.interval.high)}: "
        )
        if self.champion_cases == 0 or self.challenger_cases == 0:
            return said + "nothing to compare yet."
        if not self.settled:
            return said + "not a real difference yet (it could still be chance)."
        better = "challenger" if self.difference > 0 else "champion"
        return said + f"a real difference: the {better} does better."


def compare_rates(
    what: str,
    champion: tuple[int, int],
    challenger: tuple[int, int],
) -> Comparison:
    """`champion` and `challenger` as (successes, cases)."""
    (s1, n1), (s2, n2) = champion, challenger
    p1 = s1 / n1 if n1 else 0.0
    p2 = s2 / n2 if n2 else 0.0
    w1, w2 = wilson(s1, n1), wilson(s2, n2)
    # Newcombe (1998), method 10: the difference's interval from the two score intervals.
    low = (p2 - p1) - math.sqrt((p2 - w2.low) ** 2 + (w1.high - p1) ** 2)
    high = (p2 - p1) + math.sqrt((w2.high - p2) ** 2 + (p1 - w1.low) ** 2)
    return Comparison(what, p1, p2, p2 - p1, Interval(low, high), n1, n2)


def compare_means(what: str, champion: list[float], challenger: list[float]) -> Comparison:
    """Per-case values (e.g. amount collected), Welch's interval for the difference of means."""
    n1, n2 = len(champion), len(challenger)
    m1 = fmean(champion) if n1 else 0.0
    m2 = fmean(challenger) if n2 else 0.0
    if n1 < 2 or n2 < 2:
        return Comparison(what, m1, m2, m2 - m1, Interval(-math.inf, math.inf), n1, n2)
    spread = math.sqrt(variance(champion) / n1 + variance(challenger) / n2)
    half = Z95 * spread
    return Comparison(what, m1, m2, m2 - m1, Interval(m2 - m1 - half, m2 - m1 + half), n1, n2)


@dataclass(frozen=True)
class CaseResult:
    """What became of one case since it joined its side."""

    side: str  # champion or challenger
    contacted: bool  # a person answered a call
    right_party: bool  # an agent spoke with the debtor (a disposition about the debt)
    promised: bool
    kept: bool  # paid after a promise
    collected: float
    attempts: int
    messages: int


def compare_sides(results: list[CaseResult]) -> list[Comparison]:
    """The report: rates per case, then the amount collected and the cost per case."""
    sides = {side: [r for r in results if r.side == side] for side in ("champion", "challenger")}

    def rate(what: str, has) -> Comparison:
        counts = {s: (sum(1 for r in rs if has(r)), len(rs)) for s, rs in sides.items()}
        return compare_rates(what, counts["champion"], counts["challenger"])

    def mean(what: str, value) -> Comparison:
        values = {s: [float(value(r)) for r in rs] for s, rs in sides.items()}
        return compare_means(what, values["champion"], values["challenger"])

    return [
        rate("contact rate", lambda r: r.contacted),
        rate("right-party contacts", lambda r: r.right_party),
        rate("promises", lambda r: r.promised),
        rate("kept promises", lambda r: r.kept),
        mean("collected per case", lambda r: r.collected),
        mean("calls per case", lambda r: r.attempts),
        mean("messages per case", lambda r: r.messages),
    ]
