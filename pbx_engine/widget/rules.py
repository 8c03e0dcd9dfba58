"""May this widget request be taken? Pure: no I/O, no clock.

An open web form is a door: anyone can type any number into it. So a call back is promised only
to a number already on a case (the engine never calls a number a stranger typed); every request
counts against its address (per hour, refused ones too), so a form filled in a loop soon gets
nowhere, and each number gets at most `per_number_per_day` call backs a day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# How far ahead a debtor may ask to be called; a time a few minutes past counts as "now".
MAX_AHEAD = timedelta(days=14)
PAST_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class WidgetLimits:
    per_address_per_hour: int = 5
    per_number_per_day: int = 2


@dataclass(frozen=True)
class WidgetCounts:
    """Requests made before this one: from its address in the last hour (refused ones too),
    and call backs promised to its number in the last day."""

    by_address: int = 0
    by_number: int = 0


@dataclass(frozen=True)
class WidgetDecision:
    allowed: bool
    # ok, address_rate, number_rate, unknown_number, not_his_number, when (and, before the
    # rules: bad_number, bad_link)
    reason: str
    message: str  # what the page shows the debtor
    status: int


_OK = WidgetDecision(True, "ok", "We will call you back.", 202)
# Both kinds of request count against the address's hourly cap (refused ones too).
_TOO_MANY_FROM_HERE = WidgetDecision(
    False, "address_rate", "Too many requests from here: please try again later.", 429
)


def decide_callback(
    counts: WidgetCounts,
    limits: WidgetLimits,
    *,
    case_found: bool,
    number_on_case: bool,
    due_at: datetime | None,
    now: datetime,
) -> WidgetDecision:
    """`case_found`: a case was identified (by the number, or by the page's signed link);
    `number_on_case`: the number is one of that case's; `due_at`: the time asked for (None:
    as soon as we can)."""
    if counts.by_address >= limits.per_address_per_hour:
        return _TOO_MANY_FROM_HERE
    if counts.by_number >= limits.per_number_per_day:
        return WidgetDecision(
            False, "number_rate", "We already have a request for this number today.", 429
        )
    if not case_found:
        return WidgetDecision(
            False,
            "unknown_number",
            "We could not find your account under this number: please call us.",
            404,
        )
    if not number_on_case:
        return WidgetDecision(
            False,
            "not_his_number",
            "This number is not on your account: please use the number we have for you.",
            422,
        )
    if due_at is not None and not (now - PAST_SLACK <= due_at <= now + MAX_AHEAD):
        return WidgetDecision(False, "when", "Please pick a time from now to two weeks ahead.", 422)
    return _OK


def callback_due(due_at: datetime | None, now: datetime) -> datetime:
    """When the call back is due: the time asked for, never before now."""
    return now if due_at is None or due_at < now else due_at


def decide_call_now(counts: WidgetCounts, limits: WidgetLimits) -> WidgetDecision:
    """A call from the page into the phone menu: no number is rung but the caller's own
    browser, so only the address's cap applies."""
    if counts.by_address >= limits.per_address_per_hour:
        return _TOO_MANY_FROM_HERE
    return WidgetDecision(True, "ok", "Calling…", 202)
