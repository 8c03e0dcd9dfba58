"""A case as the planner sees it: its numbers and each number's recent attempts (the storage
package fetches them, the dialer's planner decides on them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True)
class AttemptRecord:
    at: datetime
    ended_at: datetime | None
    outcome: str
    conversation: bool = False  # bridged to an agent
    abandoned: bool = False


@dataclass(frozen=True)
class NumberHistory:
    phone_number_id: int
    e164: str
    position: int = 0
    attempts: tuple[AttemptRecord, ...] = ()
    do_not_call: bool = False
    kind: str = "unknown"  # mobile, landline, work, unknown (from the case file)
    calls_revoked: bool = False  # the consent ledger says no calls to this number
    calls_revoked_until: datetime | None = None  # ... until then (None: until he says yes)


@dataclass(frozen=True)
class CaseCandidate:
    case_id: int
    numbers: tuple[NumberHistory, ...]
    amount_owed: Decimal = Decimal(0)
    due_date: date | None = None
    timezone: str | None = None
    next_call_at: datetime | None = None  # a promised callback or a follow-up date
