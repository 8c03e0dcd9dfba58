"""Supervisors' audit trails: whom they listened to, and what they changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from pbx_engine.storage.models import JsonRow


@dataclass(frozen=True)
class SupervisionEntry(JsonRow):
    """A supervisor listened to, whispered to or barged in on an agent's call (or stopped)."""

    at: datetime
    supervisor: str
    agent: str
    channel_id: str | None
    action: str


@dataclass(frozen=True)
class SupervisorAction(JsonRow):
    """Something a supervisor changed (a campaign started, an agent disabled, ...)."""

    id: int
    supervisor: str | None
    action: str
    target: str
    at: datetime


class SupervisionStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def log_supervision(
        self,
        supervisor_id: int,
        agent_id: int,
        channel_id: str | None,
        action: str,
        at: datetime,
    ) -> None:
        """`at`: when it happened (a write owed through an outage is made later)."""
        await self.pool.execute(
            """INSERT INTO supervision_log (supervisor_id, agent_id, channel_id, action, at)
               VALUES ($1, $2, $3, $4, $5)""",
            supervisor_id,
            agent_id,
            channel_id,
            action,
            at,
        )

    async def supervision_log(self, limit: int = 200) -> list[SupervisionEntry]:
        rows = await self.pool.fetch(
            """SELECT s.at, sv.login AS supervisor, a.login AS agent, s.channel_id, s.action
               FROM supervision_log s
               JOIN agents sv ON sv.id = s.supervisor_id JOIN agents a ON a.id = s.agent_id
               ORDER BY s.id DESC LIMIT $1""",
            limit,
        )
        return [SupervisionEntry(**dict(r)) for r in rows]

    async def audit_supervisor_action(
        self, supervisor_id: int, action: str, target: str, at: datetime
    ) -> None:
        await self.pool.execute(
            "INSERT INTO supervisor_actions (supervisor_id, action, target, at) "
            "VALUES ($1, $2, $3, $4)",
            supervisor_id,
            action,
            target,
            at,
        )

    async def supervisor_actions(self, limit: int = 200) -> list[SupervisorAction]:
        rows = await self.pool.fetch(
            """SELECT s.id, a.login AS supervisor, s.action, s.target, s.at
               FROM supervisor_actions s LEFT JOIN agents a ON a.id = s.supervisor_id
               ORDER BY s.at DESC, s.id DESC LIMIT $1""",
            limit,
        )
        return [SupervisorAction(**dict(r)) for r in rows]
