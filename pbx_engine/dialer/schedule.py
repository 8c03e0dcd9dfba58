"""Which numbers to call next for a campaign: priority, retry rules per outcome, compliance.

Pure: the cases with their numbers and attempt history in, the calls to place (best first) and
the cases left alone (with why and until when) out. The storage module fetches the candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.cases.models import CaseCandidate, NumberHistory
from pbx_engine.compliance import PastAttempt, may_dial
from pbx_engine.compliance.timezones import debtor_zones


@dataclass(frozen=True)
class CallPlan:
    case_id: int
    phone_number_id: int | None  # None: a callback to a number the case file does not have
    e164: str
    kind: str = "unknown"


CALL_IN_PROGRESS = "a call is in progress"


@dataclass(frozen=True)
class Deferred:
    case_id: int
    reason: str
    not_before: datetime | None  # None: not while things stay as they are


def plan_calls(
    candidates: Sequence[CaseCandidate], campaign: CampaignConfig, now: datetime, limit: int
) -> tuple[list[CallPlan], list[Deferred]]:
    profile = campaign.compliance_profile()
    ready: list[tuple[CaseCandidate, CallPlan]] = []
    deferred: list[Deferred] = []
    for case in candidates:
        verdict = _plan_case(case, campaign, profile, now)
        if isinstance(verdict, Deferred):
            deferred.append(verdict)
        else:
            ready.append((case, verdict))
    ready.sort(key=lambda item: _priority(item[0], campaign))
    return [plan for _, plan in ready[:limit]], deferred


# An attempt Asterisk refused before anything rang (ari_apps.outcomes.Outcome.NOT_PLACED): no
# call was made, so no retry rule, attempt cap or calling-frequency rule counts it.
NOT_PLACED = "not_placed"


def placed_only(case: CaseCandidate) -> CaseCandidate:
    """The case with only the attempts that reached the network."""
    if not any(a.outcome == NOT_PLACED for n in case.numbers for a in n.attempts):
        return case
    numbers = tuple(
        replace(n, attempts=tuple(a for a in n.attempts if a.outcome != NOT_PLACED))
        for n in case.numbers
    )
    return replace(case, numbers=numbers)


def _plan_case(case, campaign, profile, now) -> CallPlan | Deferred:
    case = placed_only(case)
    attempts = [a for n in case.numbers for a in n.attempts]
    if any(a.ended_at is None for a in attempts):
        return Deferred(case.case_id, CALL_IN_PROGRESS, None)
    if case.next_call_at is not None and case.next_call_at > now:
        return Deferred(case.case_id, "next call scheduled", case.next_call_at)
    dialable = [n for n in case.numbers if not n.do_not_call and not n.calls_revoked]
    if not dialable:
        revoked = [n for n in case.numbers if n.calls_revoked and not n.do_not_call]
        if not revoked:
            return Deferred(case.case_id, "every number is on the do-not-call list", None)
        # Due again when the first revocation for a time ends; a lasting one (or a
        # do-not-call number beside it) keeps the case out until a consent change.
        untils = [n.calls_revoked_until for n in revoked]
        lapses = min(untils) if all(untils) else None  # type: ignore[type-var]
        return Deferred(case.case_id, "calls revoked in the consent ledger", lapses)
    zones = debtor_zones(case.timezone, dialable[0].e164, campaign.fallback_timezone)
    history = [PastAttempt(a.at, a.conversation, a.abandoned) for a in attempts]
    decision = may_dial(profile, now=now, zones=zones, history=history)
    if not decision.allowed:
        return Deferred(case.case_id, decision.reason, decision.not_before)

    best: tuple[datetime, int, int, NumberHistory] | None = None
    soonest: datetime | None = None
    for number in dialable:
        available = _number_available(number, campaign, now)
        if available is None:
            continue
        if available > now:
            soonest = available if soonest is None else min(soonest, available)
            continue
        key = (available, len(number.attempts), number.position, number)
        if best is None or key[:3] < best[:3]:
            best = key
    if best is None:
        if soonest is None:
            return Deferred(case.case_id, "every number has used up its retries", None)
        return Deferred(case.case_id, "waiting to retry", soonest)
    number = best[3]
    return CallPlan(case.case_id, number.phone_number_id, number.e164, number.kind)


def _number_available(
    number: NumberHistory, campaign: CampaignConfig, now: datetime
) -> datetime | None:
    """When this number may be tried again by the campaign's retry rules (None: never)."""
    if not number.attempts:
        return now
    last = max(number.attempts, key=lambda a: a.at)
    if last.outcome == "human" and not last.abandoned:
        return None  # a person was reached: what comes next follows from the disposition
    rule = campaign.retry_rule(last.outcome)
    if rule is None:
        return None
    tries = sum(1 for a in number.attempts if a.outcome == last.outcome)
    if tries >= rule.max_attempts:
        return None
    return max(now, (last.ended_at or last.at) + rule.after)


def _priority(case: CaseCandidate, campaign: CampaignConfig) -> tuple:
    keys: list = []
    for order in campaign.order:
        if order == "oldest_debt":
            keys.append(case.due_date or date.max)
        elif order == "largest_amount":
            keys.append(-case.amount_owed)
        elif order == "fewest_attempts":
            keys.append(sum(len(n.attempts) for n in case.numbers))
    keys.append(case.case_id)
    return tuple(keys)
