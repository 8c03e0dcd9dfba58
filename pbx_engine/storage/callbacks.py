"""Callbacks: calls promised back to a debtor, queued ahead of fresh numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from pbx_engine.storage.models import JsonRow


@dataclass(frozen=True)
class DueCallback:
    """A callback to place now: the number to dial, and whom it is for."""

    id: int
    case_id: int
    e164: str
    owner_only: bool
    attempts: int
    priority: int
    phone_number_id: int | None  # None: a number the case file does not have
    kind: str | None
    owner: str | None  # his login
    timezone: str | None


@dataclass(frozen=True)
class CallbackRow(JsonRow):
    """A callback as supervisors list them."""

    id: int
    case_id: int | None
    reference: str | None
    e164: str
    due_at: datetime
    owner: str | None
    owner_only: bool
    priority: int
    source: str
    status: str
    attempts: int


@dataclass(frozen=True)
class AgentCallback(JsonRow):
    """A pending callback on an agent's own list."""

    id: int
    case_id: int | None
    reference: str | None
    debtor_name: str | None
    timezone: str | None
    e164: str
    due_at: datetime
    owner_only: bool
    source: str


class CallbackStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create_callback(
        self,
        *,
        e164: str,
        due_at: datetime,
        source: str,
        case_id: int | None = None,
        owner_agent_id: int | None = None,
        owner_only: bool = False,
        priority: int = 0,
        channel_id: str | None = None,
    ) -> int:
        return await self.pool.fetchval(
            """INSERT INTO callbacks (case_id, e164, due_at, owner_agent_id, owner_only,
                                      priority, source, channel_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
            case_id,
            e164,
            due_at,
            owner_agent_id,
            owner_only,
            priority,
            source,
            channel_id,
        )

    async def due_callbacks(self, campaign_id: int, now: datetime, limit: int) -> list[DueCallback]:
        """Pending callbacks of the campaign's open cases that are due, most urgent first,
        with the number to dial and whom they are for."""
        rows = await self.pool.fetch(
            """SELECT cb.id, cb.case_id, cb.e164, cb.owner_only, cb.attempts, cb.priority,
                      p.id AS phone_number_id, p.kind, owner.login AS owner, c.timezone
               FROM callbacks cb
               JOIN cases c ON c.id = cb.case_id AND c.campaign_id = $1
                    AND c.status IN ('open', 'promised')
               LEFT JOIN phone_numbers p ON p.case_id = cb.case_id AND p.e164 = cb.e164
               LEFT JOIN agents owner ON owner.id = cb.owner_agent_id
               WHERE cb.status = 'pending' AND cb.due_at <= $2
                 -- not while the consent ledger's latest word on calls to it is no
                 AND NOT EXISTS (SELECT 1 FROM latest_consent(cb.e164, 'call', $2) lc
                                 WHERE lc.consent = 'revoked')
               ORDER BY cb.priority DESC, cb.due_at
               LIMIT $3""",
            campaign_id,
            now,
            limit,
        )
        return [DueCallback(**dict(r)) for r in rows]

    async def callback_dialled(self, callback_id: int, channel_id: str) -> None:
        await self.pool.execute(
            "UPDATE callbacks SET attempts = attempts + 1, channel_id = $2 WHERE id = $1",
            callback_id,
            channel_id,
        )

    async def settle_callback(
        self, callback_id: int, *, reached: bool, retry_at: datetime, max_attempts: int
    ) -> str:
        """After a callback's call: done when the debtor was put through, else due again at
        `retry_at`, or missed once it has been tried `max_attempts` times. Returns the status."""
        return await self.pool.fetchval(
            """UPDATE callbacks SET
                   status = CASE WHEN $2 THEN 'done'
                                 WHEN attempts >= $4 THEN 'missed' ELSE 'pending' END,
                   due_at = CASE WHEN $2 OR attempts >= $4 THEN due_at ELSE $3 END
               WHERE id = $1 RETURNING status""",
            callback_id,
            reached,
            retry_at,
            max_attempts,
        )

    async def callback_not_placed(self, callback_id: int) -> str:
        """Its call was refused before it rang: the try is given back, the callback stays due.
        Returns the status."""
        return await self.pool.fetchval(
            "UPDATE callbacks SET attempts = greatest(attempts - 1, 0) WHERE id = $1 "
            "RETURNING status",
            callback_id,
        )

    async def defer_callback(self, callback_id: int, until: datetime) -> None:
        await self.pool.execute(
            "UPDATE callbacks SET due_at = $2 WHERE id = $1", callback_id, until
        )

    async def list_callbacks(self, status: str, limit: int = 500) -> list[CallbackRow]:
        rows = await self.pool.fetch(
            """SELECT cb.id, cb.case_id, c.reference, cb.e164, cb.due_at, owner.login AS owner,
                      cb.owner_only, cb.priority, cb.source, cb.status, cb.attempts
               FROM callbacks cb LEFT JOIN cases c ON c.id = cb.case_id
               LEFT JOIN agents owner ON owner.id = cb.owner_agent_id
               WHERE cb.status = $1 ORDER BY cb.due_at LIMIT $2""",
            status,
            limit,
        )
        return [CallbackRow(**dict(r)) for r in rows]

    async def callbacks_of(self, agent_id: int, limit: int = 50) -> list[AgentCallback]:
        """An agent's pending callbacks, soonest first."""
        rows = await self.pool.fetch(
            """SELECT cb.id, cb.case_id, c.reference, c.debtor_name, c.timezone, cb.e164,
                      cb.due_at, cb.owner_only, cb.source
               FROM callbacks cb LEFT JOIN cases c ON c.id = cb.case_id
               WHERE cb.status = 'pending' AND cb.owner_agent_id = $1
               ORDER BY cb.due_at LIMIT $2""",
            agent_id,
            limit,
        )
        return [AgentCallback(**dict(r)) for r in rows]
