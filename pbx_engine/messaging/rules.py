"""Whether a message may go now: the case, the address, consent and the hours. Pure: the
service gathers what is known and sends only when this says nothing against it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pbx_engine.compliance.policy import ClosedDay, next_window_open
from pbx_engine.compliance.profiles import CallingWindow
from pbx_engine.messaging.consent import Channel, ConsentEntry, may_contact

STOPPED_STATUSES = {"dispute": "the case is disputed", "closed": "the case is closed"}


@dataclass(frozen=True)
class MessageAsk:
    channel: Channel
    address: str | None  # None: the case has none for this channel
    case_status: str
    template_missing: str | None  # why there is no template to fill; None: there is one
    address_problem: str | None = None  # why nothing reaches the address (a landline's SMS)


@dataclass(frozen=True)
class MessageBudget:
    """At most `cap` messages to a case, on every channel together, in a rolling `period`."""

    cap: int
    period: timedelta
    sent: Sequence[datetime]  # when the case's recent messages went (refused ones do not count)

    def frees_at(self, now: datetime) -> datetime | None:
        """When one more may go (None: now)."""
        recent = sorted(at for at in self.sent if now - self.period < at <= now)
        excess = len(recent) - self.cap
        if excess < 0:
            return None
        return recent[excess] + self.period


def why_not(
    ask: MessageAsk,
    consent: Iterable[ConsentEntry],
    now: datetime,
    *,
    windows: Sequence[CallingWindow],
    zones: Sequence[ZoneInfo],
    closed: ClosedDay | None = None,
    budget: MessageBudget | None = None,
) -> str | None:
    """The rule that stops this message now, in words for the contact history; None: send."""
    if ask.case_status in STOPPED_STATUSES:
        return f"{STOPPED_STATUSES[ask.case_status]}: messages stop"
    if ask.address is None:
        what = "e-mail address" if ask.channel is Channel.EMAIL else "mobile number"
        return f"the case has no {what}"
    if ask.address_problem is not None:
        return ask.address_problem
    decision = may_contact(consent, ask.address, ask.channel, now)
    if not decision.allowed:
        return decision.rule
    if ask.template_missing is not None:
        return ask.template_missing
    frees = budget.frees_at(now) if budget is not None else None
    if budget is not None and frees is not None:
        days = budget.period.total_seconds() / 86400
        return (
            f"contact budget: {budget.cap} message(s) to the case in {days:g} days already "
            f"(next: {frees.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
        )
    opens = next_window_open(windows, zones, now, closed)
    if opens is None:
        return "no hours in the debtor's time zones when a message may go"
    if opens > now:
        local = opens.astimezone(zones[0])
        return (
            f"outside the hours a debtor may be written to (next: {local:%Y-%m-%d %H:%M} "
            f"{local.tzname()})"
        )
    return None
