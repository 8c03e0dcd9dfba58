"""The named compliance profiles a campaign picks; an operator may adjust any field in config.

Sources, briefly: `us` is Regulation F (12 CFR 1006.14: at most 7 calls in 7 days per debt, none
for 7 days after a telephone conversation), FDCPA's 8:00-21:00 local time, and the 3% abandon
cap over 30 days of the FTC's Telemarketing Sales Rule. `uk` is Ofcom's persistent misuse
policy: 3% abandoned per campaign per 24 hours with AMD false positives estimated in, and no
automated redial within 72 hours of an abandoned call. `fr` is décret 2022-1313: weekdays
10:00-13:00 and 14:00-20:00, never on public holidays, at most 4 calls in 30 days. `plain` keeps
only the do-not-call list.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import time, timedelta

WEEKDAYS = frozenset(range(5))  # Monday = 0, as datetime.weekday()
EVERY_DAY = frozenset(range(7))


@dataclass(frozen=True)
class CallingWindow:
    """Local times on given weekdays when a call may start; `end` is exclusive."""

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.days <= EVERY_DAY:
            raise ValueError(f"weekdays are 0 (Monday) to 6, not {sorted(self.days)}")
        if self.start >= self.end and self.end != time(0):
            raise ValueError(f"window {self.start}-{self.end} ends before it starts")


@dataclass(frozen=True)
class ComplianceProfile:
    name: str
    windows: tuple[CallingWindow, ...]
    max_attempts: int | None  # per debt, over all of the debtor's numbers
    attempt_period: timedelta
    after_conversation: timedelta | None  # no call for this long after a conversation
    after_abandon: timedelta | None  # no automated redial this long after an abandoned call
    abandon_target: float
    abandon_period: timedelta
    # Ofcom counts a live person that AMD took for a machine as an abandoned call, by a
    # reasoned estimate: this share of machine verdicts is counted as abandoned people.
    amd_false_positive_share: float = 0.0
    # A country (ISO 3166 code) whose public holidays close every calling window, in the
    # debtor's local date; None: holidays are working days.
    holidays: str | None = None
    # After a debtor refuses on a call, no call to that number for this long (France, décret
    # 2022-1313: 60 days); entered in the consent ledger, so it holds for every campaign.
    refused_quiet: timedelta | None = None

    def adjusted(self, **changes) -> ComplianceProfile:
        return replace(self, **changes)


_ALL_DAY = (CallingWindow(EVERY_DAY, time(0), time(0)),)

PROFILES: dict[str, ComplianceProfile] = {
    "us": ComplianceProfile(
        name="us",
        windows=(CallingWindow(EVERY_DAY, time(8), time(21)),),
        max_attempts=7,
        attempt_period=timedelta(days=7),
        after_conversation=timedelta(days=7),
        after_abandon=None,
        abandon_target=0.03,
        abandon_period=timedelta(days=30),
    ),
    "uk": ComplianceProfile(
        name="uk",
        windows=(CallingWindow(EVERY_DAY, time(8), time(21)),),
        max_attempts=None,
        attempt_period=timedelta(days=1),
        after_conversation=None,
        after_abandon=timedelta(hours=72),
        abandon_target=0.03,
        abandon_period=timedelta(hours=24),
        # An estimate to replace with one's own (a sample of machine verdicts listened to).
        amd_false_positive_share=0.05,
    ),
    "fr": ComplianceProfile(
        name="fr",
        windows=(
            CallingWindow(WEEKDAYS, time(10), time(13)),
            CallingWindow(WEEKDAYS, time(14), time(20)),
        ),
        max_attempts=4,
        attempt_period=timedelta(days=30),
        after_conversation=None,
        after_abandon=None,
        abandon_target=0.03,
        abandon_period=timedelta(days=30),
        holidays="FR",
        refused_quiet=timedelta(days=60),
    ),
    "plain": ComplianceProfile(
        name="plain",
        windows=_ALL_DAY,
        max_attempts=None,
        attempt_period=timedelta(days=1),
        after_conversation=None,
        after_abandon=None,
        abandon_target=0.03,
        abandon_period=timedelta(days=30),
    ),
}


def profile(name: str) -> ComplianceProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(
            f"unknown compliance profile {name!r} (known: {', '.join(sorted(PROFILES))})"
        ) from None
