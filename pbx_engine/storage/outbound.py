"""The record of external dials (every decision of the outbound gate, allowed or refused), the
counts its hourly caps are read from, and the record of actions on conference rooms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from pbx_engine.storage.models import JsonRow


@dataclass(frozen=True)
class DialRecord:
    at: datetime
    purpose: str
    number: str
    country: str
    kind: str
    allowed: bool
    reason: str
    agent_id: int | None = None
    invitation_id: str | None = None
    client_address: str | None = None
    room: str | None = None


@dataclass(frozen=True)
class DialEntry(JsonRow):
    """A dial on record, as supervisors read it (the agent by login)."""

    at: datetime
    purpose: str
    number: str
    country: str
    kind: str
    allowed: bool
    reason: str
    agent: str | None
    invitation_id: str | None
    client_address: str | None
    room: str | None


@dataclass(frozen=True)
class RoomAction(JsonRow):
    at: datetime
    room: str
    action: str
    target: str | None
    agent: str | None
    client_address: str | None


class OutboundStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record_dial(self, dial: DialRecord) -> None:
        await self.pool.execute(
            """INSERT INTO outbound_dials (at, purpose, number, country, kind, allowed, reason,
                                           agent_id, invitation_id, client_address, room)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
            dial.at,
            dial.purpose,
            dial.number,
            dial.country,
            dial.kind,
            dial.allowed,
            dial.reason,
            dial.agent_id,
            dial.invitation_id,
            dial.client_address,
            dial.room,
        )

    async def counts_since(
        self,
        since: datetime,
        *,
        agent_id: int | None,
        invitation_id: str | None,
        client_address: str | None,
    ) -> tuple[int, int, int]:
        """Since `since`: dials allowed for the agent and through the link, and dials asked
        from the address (allowed or refused: a client hammering refused requests is slowed
        down too). The counts the hourly caps compare against."""
        row = await self.pool.fetchrow(
            """SELECT
                 count(*) FILTER (WHERE allowed AND agent_id = $2) AS by_agent,
                 count(*) FILTER (WHERE allowed AND invitation_id = $3) AS by_link,
                 count(*) FILTER (WHERE client_address = $4) AS by_address
               FROM outbound_dials
               WHERE at > $1
                 AND (agent_id = $2 OR invitation_id = $3 OR client_address = $4)""",
            since,
            agent_id,
            invitation_id,
            client_address,
        )
        return row["by_agent"], row["by_link"], row["by_address"]

    async def dials(self, limit: int = 200, *, invitation_id: str | None = None) -> list[DialEntry]:
        rows = await self.pool.fetch(
            """SELECT d.at, d.purpose, d.number, d.country, d.kind, d.allowed, d.reason,
                      a.login AS agent, d.invitation_id, d.client_address, d.room
               FROM outbound_dials d LEFT JOIN agents a ON a.id = d.agent_id
               WHERE $2::text IS NULL OR d.invitation_id = $2
               ORDER BY d.id DESC LIMIT $1""",
            limit,
            invitation_id,
        )
        return [DialEntry(**dict(r)) for r in rows]

    async def record_room_action(
        self,
        at: datetime,
        room: str,
        action: str,
        target: str | None,
        agent_id: int | None,
        client_address: str | None,
    ) -> None:
        await self.pool.execute(
            "INSERT INTO room_actions (at, room, action, target, agent_id, client_address) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            at,
            room,
            action,
            target,
            agent_id,
            client_address,
        )

    async def room_actions(self, room: str | None = None, limit: int = 200) -> list[RoomAction]:
        rows = await self.pool.fetch(
            """SELECT r.at, r.room, r.action, r.target, a.login AS agent, r.client_address
               FROM room_actions r LEFT JOIN agents a ON a.id = r.agent_id
               WHERE $1::text IS NULL OR r.room = $1
               ORDER BY r.id DESC LIMIT $2""",
            room,
            limit,
        )
        return [RoomAction(**dict(r)) for r in rows]
