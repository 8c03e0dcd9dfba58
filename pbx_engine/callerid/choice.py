"""Which number a call presents: pure, so every rule is unit-tested without a PBX or database.

Tiers, first that has a usable number wins:
1. `mobile`: the campaign's mobile pool, when the debtor is on a mobile and it has one;
2. `area`: a number of the campaign's pools in the debtor's area (same area code);
3. `region`: one in his region (a US state; elsewhere the place `phonenumbers` names);
4. `fallback`: the campaign's fallback pool (by default, any number of its pools).
A number is usable when it is not rested for bad health, is under its daily cap, has cooled
down since its last call, and (if the campaign says so) has not called this debtor within N
days. Among the usable numbers of a tier: `least_recently_used`, or `round_robin` (the next in
file order after the one used last).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pbx_engine.callerid.geography import Place
from pbx_engine.callerid.pools import HealthRules, NumberPools, PoolNumber

Rotation = Literal["least_recently_used", "round_robin"]


@dataclass(frozen=True)
class CallerIdRule:
    """A campaign's caller-ID settings."""

    pools: tuple[str, ...]
    mobile: str | None = None
    fallback: str | None = None
    rotation: Rotation = "least_recently_used"
    not_same_within: timedelta | None = None


@dataclass
class Usage:
    """What a number has done today, and whether it is resting."""

    day: str = ""  # the UTC date the count is for
    used_today: int = 0
    last_used: datetime | None = None
    rested_until: datetime | None = None
    rest_reason: str | None = None
    # Over the health window, as last assessed: (calls, answered, screened).
    window: tuple[int, int, int] | None = None

    def count_on(self, now: datetime) -> int:
        return self.used_today if self.day == now.date().isoformat() else 0

    def record(self, now: datetime) -> None:
        today = now.date().isoformat()
        self.used_today = self.used_today + 1 if self.day == today else 1
        self.day = today
        self.last_used = now


@dataclass(frozen=True)
class Choice:
    number: PoolNumber
    tier: Literal["mobile", "area", "region", "fallback"]


def pick_caller_id(
    debtor: Place,
    rule: CallerIdRule,
    pools: NumberPools,
    usage: Mapping[str, Usage],
    *,
    now: datetime,
    recent_to_debtor: Mapping[str, datetime] | None = None,
) -> Choice | None:
    """The number to present to `debtor` now, or None when no number of the campaign's pools
    is usable (all capped, cooling down, resting, or used on him lately)."""
    recent = recent_to_debtor or {}

    def usable(number: PoolNumber) -> bool:
        used = usage.get(number.e164)
        if used is not None:
            if used.rested_until is not None and used.rested_until > now:
                return False
            if used.count_on(now) >= number.daily_cap:
                return False
            if (
                used.last_used is not None
                and (now - used.last_used).total_seconds() < number.cooldown_seconds
            ):
                return False
        if rule.not_same_within is not None:
            last = recent.get(number.e164)
            if last is not None and now - last < rule.not_same_within:
                return False
        return True

    geographic = [n for name in rule.pools for n in pools.pools.get(name, ())]
    tiers: list[tuple[str, Sequence[PoolNumber]]] = []
    if debtor.mobile and rule.mobile:
        tiers.append(("mobile", pools.pools.get(rule.mobile, ())))
    if debtor.area:
        tiers.append(("area", [n for n in geographic if n.place.area == debtor.area]))
    if debtor.region:
        tiers.append(("region", [n for n in geographic if n.place.region == debtor.region]))
    fallback = pools.pools.get(rule.fallback, ()) if rule.fallback else geographic
    tiers.append(("fallback", fallback))
    for tier, numbers in tiers:
        candidates = [n for n in numbers if usable(n)]
        if candidates:
            return Choice(_rotate(numbers, candidates, usage, rule.rotation), tier)  # type: ignore[arg-type]
    return None


def _rotate(
    tier: Sequence[PoolNumber],
    candidates: list[PoolNumber],
    usage: Mapping[str, Usage],
    rotation: Rotation,
) -> PoolNumber:
    def last_used(number: PoolNumber) -> datetime | None:
        used = usage.get(number.e164)
        return used.last_used if used else None

    never = [n for n in candidates if last_used(n) is None]
    if rotation == "least_recently_used":
        if never:
            return never[0]
        return min(candidates, key=lambda n: (last_used(n), n.e164))
    # round robin: the first usable number after the tier's most recently used one
    used = [(last_used(n), i) for i, n in enumerate(tier) if last_used(n) is not None]
    start = (max(used)[1] + 1) if used else 0
    order = list(tier[start:]) + list(tier[:start])
    allowed = {n.e164 for n in candidates}
    return next(n for n in order if n.e164 in allowed)


@dataclass(frozen=True)
class Rest:
    e164: str
    until: datetime
    reason: str


def assess_health(
    pools: NumberPools,
    stats: Mapping[str, tuple[int, ...]],
    rules: HealthRules,
    now: datetime,
) -> list[Rest]:
    """Numbers to rest: those with at least `min_attempts` calls in the window whose answer
    rate fell below `collapse_ratio` x the median of their pool's judged numbers (a number
    that people stop answering has likely been labelled as spam). `stats`: e164 -> (calls,
    answered, ...) over the window (`storage.caller_ids.NumberStats`); a call that only a
    phone's screening assistant took was not answered: its owner did not take it."""
    rests = []
    for name, numbers in pools.pools.items():
        rates = {
            n.e164: stats[n.e164][1] / stats[n.e164][0]
            for n in numbers
            if n.e164 in stats and stats[n.e164][0] >= rules.min_attempts
        }
        if len(rates) < 2:
            continue  # one number alone has nothing to be compared with
        ordered = sorted(rates.values())
        middle = len(ordered) // 2
        median = (
            ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        )
        for e164, rate in rates.items():
            if rate < rules.collapse_ratio * median:
                rests.append(
                    Rest(
                        e164,
                        now + timedelta(days=rules.rest_days),
                        f"answer rate {rate:.1%} against {median:.1%} in pool {name!r}",
                    )
                )
    return rests
