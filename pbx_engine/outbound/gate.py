"""The outbound gate: the policy's decision for one dial, with the counts it needs read from
the record of dials, and the decision put on that record (and in the log).

Decisions that read counts are taken one at a time (one engine process, one lock), so a flood
of concurrent requests cannot all read "under the cap" before any of them is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from pbx_engine.config import OutboundConfig
from pbx_engine.outbound.policy import (
    Destination,
    DialCounts,
    OutboundDecision,
    Purpose,
    PurposeRules,
    classify,
    decide,
)
from pbx_engine.refusals import Refused
from pbx_engine.storage.outbound import DialEntry, DialRecord

log = structlog.get_logger(__name__)

HOUR = timedelta(hours=1)


class OutboundRefused(Refused):
    """The outbound policy refused a dial; `reason` is its short code (kind, country, ...)."""

    def __init__(self, message: str, status: int, reason: str) -> None:
        super().__init__(message, status)
        self.reason = reason


@dataclass(frozen=True)
class DialAsk:
    """One external dial someone asks for: why, where, and who asks."""

    purpose: Purpose
    number: str
    agent_id: int | None = None
    invitation_id: str | None = None
    client_address: str | None = None
    room: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class OutboundGate:
    def __init__(
        self,
        storage,
        config: OutboundConfig,
        default_region: str,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._storage = storage
        self._config = config
        self._default_region = default_region
        self._clock = clock
        self._rules: dict[Purpose, PurposeRules] = {
            purpose: config.rules(purpose.value, default_region) for purpose in Purpose
        }
        self._lock = asyncio.Lock()

    @property
    def config(self) -> OutboundConfig:
        return self._config

    def rules(self, purpose: Purpose) -> PurposeRules:
        return self._rules[purpose]

    async def dials(self, limit: int, invitation_id: str | None = None) -> list[DialEntry]:
        """Every external dial asked for, newest first (one link's with `invitation_id`)."""
        return await self._storage.outbound.dials(limit, invitation_id=invitation_id)

    async def check(self, ask: DialAsk) -> Destination:
        """The destination, if the dial may go ahead (recorded as allowed); else
        OutboundRefused (recorded, with its reason)."""
        destination = classify(ask.number)
        rules = self._rules[ask.purpose]
        counted = any(x is not None for x in (ask.agent_id, ask.invitation_id, ask.client_address))
        if not counted:
            # Campaign calls: no caps to count; the call's own attempt row records it.
            decision = decide(rules, destination, DialCounts())
            if not decision.allowed:
                await self._record(ask, destination, decision, self._clock())
        else:
            async with self._lock:
                now = self._clock()
                by_agent, by_link, by_address = await self._storage.outbound.counts_since(
                    now - HOUR,
                    agent_id=ask.agent_id,
                    invitation_id=ask.invitation_id,
                    client_address=ask.client_address,
                )
                decision = decide(
                    rules,
                    destination,
                    DialCounts(by_agent, by_link, by_address),
                    agent=ask.agent_id is not None,
                    link=ask.invitation_id is not None,
                    address=ask.client_address is not None,
                )
                await self._record(ask, destination, decision, now)
        if not decision.allowed:
            raise OutboundRefused(decision.message, decision.status, decision.reason)
        return destination

    async def refused(self, ask: DialAsk, reason: str, message: str, status: int) -> None:
        """Put on record a dial refused for a reason outside the policy (a full room), then
        raise it."""
        decision = OutboundDecision(False, reason, message, status)
        await self._record(ask, classify(ask.number), decision, self._clock())
        raise OutboundRefused(message, status, reason)

    async def _record(
        self, ask: DialAsk, destination: Destination, decision: OutboundDecision, now: datetime
    ) -> None:
        event = "outbound.allowed" if decision.allowed else "outbound.refused"
        (log.info if decision.allowed else log.warning)(
            event,
            purpose=ask.purpose.value,
            country=destination.country,
            kind=destination.kind.value,
            reason=decision.reason,
            agent_id=ask.agent_id,
            invitation_id=ask.invitation_id,
            room=ask.room,
        )
        await self._storage.outbound.record_dial(
            DialRecord(
                at=now,
                purpose=ask.purpose.value,
                number=ask.number,
                country=destination.country,
                kind=destination.kind.value,
                allowed=decision.allowed,
                reason=decision.reason,
                agent_id=ask.agent_id,
                invitation_id=ask.invitation_id,
                client_address=ask.client_address,
                room=ask.room,
            )
        )
