"""Disabling an agent: his API token, browser sessions and invitation links end with him, and
no look-up of an agent (by login, softphone, token, session, sign-in) finds him until he is
enabled again (see `AGENT_FROM` in `storage.agents`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class Disabled:
    agent_id: int
    sessions_closed: int
    links_revoked: int


class AgentAccess:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def disable(self, login: str, now: datetime) -> Disabled | None:
        """None: no such agent (or disabled already)."""
        async with self.pool.acquire() as conn, conn.transaction():
            agent_id = await conn.fetchval(
                "UPDATE agents SET disabled_at = $2, token_sha256 = NULL "
                "WHERE login = $1 AND disabled_at IS NULL RETURNING id",
                login,
                now,
            )
            if agent_id is None:
                return None
            sessions = await conn.execute(
                "DELETE FROM browser_sessions WHERE agent_id = $1", agent_id
            )
            links = await conn.execute(
                "UPDATE room_invitations SET revoked_at = $2 "
                "WHERE created_by = $1 AND revoked_at IS NULL",
                agent_id,
                now,
            )
            return Disabled(agent_id, _count(sessions), _count(links))

    async def enable(self, login: str) -> bool:
        """He may sign in again (with a new token; his old links stay revoked)."""
        status = await self.pool.execute(
            "UPDATE agents SET disabled_at = NULL WHERE login = $1 AND disabled_at IS NOT NULL",
            login,
        )
        return status.endswith(" 1")

    async def is_disabled(self, login: str) -> bool | None:
        """None: no such agent."""
        return await self.pool.fetchval(
            "SELECT disabled_at IS NOT NULL FROM agents WHERE login = $1", login
        )


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])
