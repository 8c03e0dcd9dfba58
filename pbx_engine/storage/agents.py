"""Agents: who they are (login, softphone, role, team) and the states they go through."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from pbx_engine.storage.models import AgentRow, AgentStateChange

AGENT_COLUMNS = "SELECT a.id, a.login, a.name, a.sip_endpoint, a.role, t.name AS team"
# A disabled agent is found by no look-up: his token, sessions and sign-in all fail.
AGENT_FROM = (
    "FROM (SELECT * FROM agents WHERE disabled_at IS NULL) a LEFT JOIN teams t ON t.id = a.team_id"
)
AGENT_SELECT = f"{AGENT_COLUMNS} {AGENT_FROM}"


class AgentStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def upsert_agent(
        self,
        login: str,
        name: str,
        *,
        sip_endpoint: str | None = None,
        role: str = "agent",
        team: str | None = None,
    ) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            team_id = None
            if team is not None:
                team_id = await conn.fetchval(
                    "INSERT INTO teams (name) VALUES ($1) "
                    "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                    team,
                )
            return await conn.fetchval(
                """INSERT INTO agents (login, name, sip_endpoint, role, team_id)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (login) DO UPDATE SET name = EXCLUDED.name,
                       sip_endpoint = EXCLUDED.sip_endpoint, role = EXCLUDED.role,
                       team_id = EXCLUDED.team_id
                   RETURNING id""",
                login,
                name,
                sip_endpoint,
                role,
                team_id,
            )

    async def get_agent(self, login: str) -> AgentRow | None:
        row = await self.pool.fetchrow(
            f"{AGENT_SELECT} WHERE a.login = $1",
            login,
        )
        return AgentRow(**dict(row)) if row else None

    async def agent_by_endpoint(self, sip_endpoint: str) -> AgentRow | None:
        """The agent whose softphone is this PJSIP endpoint (a feature code dialled from it)."""
        row = await self.pool.fetchrow(f"{AGENT_SELECT} WHERE a.sip_endpoint = $1", sip_endpoint)
        return AgentRow(**dict(row)) if row else None

    async def record_agent_state(
        self,
        agent_id: int,
        state: str,
        at: datetime,
        *,
        reason: str | None = None,
        channel_id: str | None = None,
    ) -> None:
        await self.pool.execute(
            "INSERT INTO agent_state_changes (agent_id, state, reason, channel_id, at) "
            "VALUES ($1, $2, $3, $4, $5)",
            agent_id,
            state,
            reason,
            channel_id,
            at,
        )

    async def agent_states(self, agent_id: int) -> list[tuple[str, str | None]]:
        rows = await self.pool.fetch(
            "SELECT state, reason FROM agent_state_changes WHERE agent_id = $1 ORDER BY id",
            agent_id,
        )
        return [(r["state"], r["reason"]) for r in rows]

    async def last_agent_state(self, agent_id: int) -> AgentStateChange | None:
        row = await self.pool.fetchrow(
            "SELECT state, reason, channel_id, at FROM agent_state_changes WHERE agent_id = $1 "
            "ORDER BY id DESC LIMIT 1",
            agent_id,
        )
        return AgentStateChange(**row) if row else None

    async def agent_names(self) -> dict[str, str]:
        rows = await self.pool.fetch("SELECT login, name FROM agents")
        return {r["login"]: r["name"] for r in rows}
