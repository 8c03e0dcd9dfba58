"""Which steps of a strategy a case is due now (pure): the strategy's steps in order, those
whose conditions the case meets and that it has not had yet; a `stop` step that applies ends
the list (and the case's strategy)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pbx_engine.strategies.files import StepFile, StrategyFile


@dataclass(frozen=True)
class CaseStanding:
    """A case as a strategy sees it."""

    case_id: int
    days_past_due: int | None  # None: no due date
    last_outcome: str  # a disposition code, `none`, or `broken_promise`
    segment: str | None
    balance: Decimal
    steps_done: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DueStep:
    case_id: int
    step: str
    action: str  # sms or email
    template: str


def days_past_due(due: date | None, today: date) -> int | None:
    return None if due is None else (today - due).days


def last_outcome(
    last_disposition: str | None, promise_date: date | None, paid_since: bool, today: date
) -> str:
    """`broken_promise` when the last disposition was a promise whose date has passed with no
    payment since; else the last disposition, or `none`."""
    if last_disposition is None:
        return "none"
    if (
        last_disposition == "promise_to_pay"
        and promise_date is not None
        and promise_date < today
        and not paid_since
    ):
        return "broken_promise"
    return last_disposition


def _within(value, bounds) -> bool:
    if bounds is None:
        return True
    if value is None:
        return False
    low, high = bounds
    return (low is None or value >= low) and (high is None or value <= high)


def applies(step: StepFile, case: CaseStanding) -> bool:
    return (
        _within(case.days_past_due, step.days_past_due)
        and (step.last_outcome is None or case.last_outcome in step.last_outcome)
        and (step.segment is None or case.segment in step.segment)
        and _within(case.balance, step.balance)
    )


def due_steps(strategy: StrategyFile, case: CaseStanding) -> list[DueStep]:
    due = []
    for step in strategy.step:
        if not applies(step, case):
            continue
        if step.action == "stop":
            break
        if step.name in case.steps_done:
            continue
        assert step.template is not None
        due.append(DueStep(case.case_id, step.name, step.action, step.template))
    return due


def stopped(strategy: StrategyFile, case: CaseStanding) -> bool:
    """Whether a stop step applies to the case now."""
    return any(s.action == "stop" and applies(s, case) for s in strategy.step)
