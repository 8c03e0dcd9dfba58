"""Whether a message may go now: the case, the address, consent and the hours. Pure: the
service gathers what is known and sends only when this says nothing against it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
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


def why_not(
    ask: MessageAsk,
    consent: Iterable[ConsentEntry],
    now: datetime,
    *,
    windows: Sequence[CallingWindow],
    zones: Sequence[ZoneInfo],
    closed: ClosedDay | None = None,
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
