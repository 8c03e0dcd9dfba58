"""What an agent's disposition means for the case: its status and when to call again. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo


class Disposition(StrEnum):
    RIGHT_PARTY = "right_party"
    WRONG_PARTY = "wrong_party"
    PROMISE_TO_PAY = "promise_to_pay"
    REFUSED = "refused"
    DISPUTE = "dispute"
    CALLBACK = "callback"
    # The debtor asked not to be called again: calls to this number are revoked in the
    # consent ledger (messages go on unless he asks that too).
    STOP_CALLING = "stop_calling"


class DispositionError(ValueError):
    pass


@dataclass(frozen=True)
class DispositionInput:
    code: Disposition
    promise_amount: Decimal | None = None
    promise_date: date | None = None
    callback_at: datetime | None = None
    note: str = ""
    callback_owner_only: bool = False  # only the agent who promised it may make the callback


@dataclass(frozen=True)
class CaseUpdate:
    status: str  # open | promised | dispute
    next_call_at: datetime | None
    wrong_party: bool = False  # the number dialled reaches someone else: never dial it again


REFUSED_FOLLOW_UP = timedelta(days=3)


def next_action(disposition: DispositionInput, now: datetime, debtor_zone: ZoneInfo) -> CaseUpdate:
    """The case's next step; raises DispositionError when a field the code needs is missing."""
    d = disposition
    match d.code:
        case Disposition.PROMISE_TO_PAY:
            if d.promise_amount is None or d.promise_amount <= 0 or d.promise_date is None:
                raise DispositionError("a promise to pay needs a positive amount and a date")
            if d.promise_date < now.astimezone(debtor_zone).date():
                raise DispositionError("the promised date is in the past")
            # Check the day after the promised date, mid-morning in the debtor's time.
            follow_up = datetime.combine(
                d.promise_date + timedelta(days=1), time(10), tzinfo=debtor_zone
            )
            return CaseUpdate("promised", follow_up)
        case Disposition.CALLBACK:
            if d.callback_at is None or d.callback_at.tzinfo is None:
                raise DispositionError("a callback needs a time with its time zone")
            if d.callback_at <= now:
                raise DispositionError("the callback time is in the past")
            return CaseUpdate("open", d.callback_at)
        case Disposition.DISPUTE:
            # A disputed debt is verified before anyone calls about it again.
            return CaseUpdate("dispute", None)
        case Disposition.WRONG_PARTY:
            return CaseUpdate("open", None, wrong_party=True)
        case Disposition.REFUSED:
            return CaseUpdate("open", now + REFUSED_FOLLOW_UP)
        case Disposition.RIGHT_PARTY | Disposition.STOP_CALLING:
            return CaseUpdate("open", None)
    raise DispositionError(f"unknown disposition {d.code!r}")
