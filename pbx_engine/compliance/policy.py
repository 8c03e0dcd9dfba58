"""`may_dial`: the one decision every dial passes through, with the earliest time it could pass."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holiday_calendars

from pbx_engine.compliance.profiles import CallingWindow, ComplianceProfile

ClosedDay = Callable[[date], bool]

_MIDNIGHT = time(0)


@dataclass(frozen=True)
class PastAttempt:
    """One earlier call to the debt, on any of the debtor's numbers."""

    at: datetime
    conversation: bool = False  # the debtor was reached and spoke with us
    abandoned: bool = False  # a live answer that found no agent


@dataclass(frozen=True)
class DialDecision:
    allowed: bool
    reason: str
    not_before: datetime | None  # earliest moment all rules pass; None: not while this holds

    @classmethod
    def ok(cls, now: datetime) -> DialDecision:
        return cls(True, "ok", now)


def may_dial(
    profile: ComplianceProfile,
    *,
    now: datetime,
    zones: Sequence[ZoneInfo],
    history: Sequence[PastAttempt],
    do_not_call: bool = False,
) -> DialDecision:
    """May the debt be called at `now` (aware)? `zones` are the debtor's possible time zones: a
    call must fall inside the calling window in every one of them, since we cannot tell which
    applies."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if do_not_call:
        return DialDecision(False, "on the do-not-call list", None)
    if not zones:
        raise ValueError("at least one time zone is needed to apply calling windows")

    earliest = now
    reason = "ok"
    for rule, until in (
        (
            "cool-off after a conversation",
            _after(history, "conversation", profile.after_conversation),
        ),
        ("no redial after an abandoned call", _after(history, "abandoned", profile.after_abandon)),
        ("attempt cap reached", _cap_frees_at(profile, now, history)),
    ):
        if until is not None and until > earliest:
            earliest = until
            if reason == "ok":
                reason = rule
    closed = public_holiday(profile.holidays)
    opens = next_window_open(profile.windows, zones, earliest, closed)
    if opens is None:
        return DialDecision(
            False, "calling windows never open in all the debtor's time zones", None
        )
    if opens > earliest and reason == "ok":
        reason = "outside the calling window"
        if closed is not None and any(closed(earliest.astimezone(z).date()) for z in zones):
            reason = "a public holiday"
    if opens == now:
        return DialDecision.ok(now)
    return DialDecision(False, reason, opens)


def _after(history: Sequence[PastAttempt], flag: str, period: timedelta | None) -> datetime | None:
    if period is None:
        return None
    marked = [a.at for a in history if getattr(a, flag)]
    return max(marked) + period if marked else None


def _cap_frees_at(
    profile: ComplianceProfile, now: datetime, history: Sequence[PastAttempt]
) -> datetime | None:
    """When the count of attempts in the rolling period drops below the cap (None: it is)."""
    if profile.max_attempts is None:
        return None
    recent = sorted(a.at for a in history if now - profile.attempt_period < a.at <= now)
    excess = len(recent) - profile.max_attempts
    if excess < 0:
        return None
    # The attempt that must age out of the window for one call to become possible again.
    return recent[excess] + profile.attempt_period


def public_holiday(country: str | None) -> ClosedDay | None:
    """Is a (local) date a public holiday in `country`? None when the profile has no holidays."""
    return _calendar(country.upper()) if country else None


@lru_cache(maxsize=32)
def _calendar(country: str) -> ClosedDay:
    calendar = holiday_calendars.country_holidays(country)  # years are filled in on demand
    return calendar.__contains__


def in_window(
    windows: Sequence[CallingWindow], local: datetime, closed: ClosedDay | None = None
) -> bool:
    clock = local.time()
    if closed is not None and closed(local.date()):
        return False
    return any(
        local.weekday() in w.days and w.start <= clock and (w.end == _MIDNIGHT or clock < w.end)
        for w in windows
    )


def _next_start(
    windows: Sequence[CallingWindow], local: datetime, closed: ClosedDay | None = None
) -> datetime | None:
    """The first window start after `local`, in local time."""
    for days_ahead in range(15):  # a week, and the holidays that may lengthen a closed spell
        day = local.date() + timedelta(days=days_ahead)
        if closed is not None and closed(day):
            continue
        starts = sorted(w.start for w in windows if day.weekday() in w.days)
        for start in starts:
            candidate = datetime.combine(day, start, tzinfo=local.tzinfo)
            if candidate > local:
                return candidate
    return None


def next_window_open(
    windows: Sequence[CallingWindow],
    zones: Sequence[ZoneInfo],
    at: datetime,
    closed: ClosedDay | None = None,
) -> datetime | None:
    """The first moment at or after `at` inside a window in every zone, on a day that is not
    `closed` there (None: never within a fortnight, e.g. zones whose windows never overlap)."""
    candidate = at
    limit = at + timedelta(days=15)
    while candidate <= limit:
        late = [z for z in zones if not in_window(windows, candidate.astimezone(z), closed)]
        if not late:
            return candidate
        starts = [_next_start(windows, candidate.astimezone(z), closed) for z in late]
        if any(s is None for s in starts):
            return None
        candidate = max(s.astimezone(UTC) for s in starts if s is not None)
    return None
