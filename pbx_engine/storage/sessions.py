"""Browsers: agents' passwords and their signed-in sessions."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from pbx_engine.storage.agents import AGENT_COLUMNS, AGENT_FROM
from pbx_engine.storage.models import AgentRow, BrowserSession


class BrowserSessionStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def set_password(self, login: str, password_hash: str) -> bool:
        """Store an agent's password hash; his open browser sessions end. False: no agent."""
        async with self.pool.acquire() as conn, conn.transaction():
            agent_id = await conn.fetchval(
                "UPDATE agents SET password_hash = $2 WHERE login = $1 RETURNING id",
                login,
                password_hash,
            )
            if agent_id is None:
                return False
            await conn.execute("DELETE FROM browser_sessions WHERE agent_id = $1", agent_id)
            return True

    async def change_password(
        self, agent_id: int, password_hash: str, *, keep: str | None
    ) -> list[str]:
        """An agent's new password hash; his browser sessions end but `keep` (the one he
        changed it from). Returns the ended sessions' ids (their sha256)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE agents SET password_hash = $2 WHERE id = $1", agent_id, password_hash
            )
            rows = await conn.fetch(
                "DELETE FROM browser_sessions WHERE agent_id = $1 "
                "AND id_sha256 IS DISTINCT FROM $2 RETURNING id_sha256",
                agent_id,
                keep,
            )
            return [row["id_sha256"] for row in rows]

    async def password_hash(self, login: str) -> tuple[AgentRow, str | None] | None:
        """The agent and his stored password hash (None when he has no password)."""
        row = await self.pool.fetchrow(
            f"{AGENT_COLUMNS}, a.password_hash AS extra {AGENT_FROM} WHERE a.login = $1",
            login,
        )
        return _agent_and_extra(row)

    async def open_browser_session(
        self, agent_id: int, id_sha256: str, csrf_token: str, expires_at: datetime
    ) -> None:
        await self.pool.execute(
            "INSERT INTO browser_sessions (id_sha256, agent_id, csrf_token, expires_at) "
            "VALUES ($1, $2, $3, $4)",
            id_sha256,
            agent_id,
            csrf_token,
            expires_at,
        )

    async def browser_session(self, id_sha256: str, now: datetime) -> BrowserSession | None:
        """An unexpired session with its agent."""
        row = await self.pool.fetchrow(
            f"{AGENT_COLUMNS}, s.csrf_token, s.expires_at {AGENT_FROM} "
            "JOIN browser_sessions s ON s.agent_id = a.id "
            "WHERE s.id_sha256 = $1 AND s.expires_at > $2",
            id_sha256,
            now,
        )
        if row is None:
            return None
        fields = dict(row)
        csrf_token, expires_at = fields.pop("csrf_token"), fields.pop("expires_at")
        return BrowserSession(AgentRow(**fields), id_sha256, csrf_token, expires_at)

    async def close_browser_session(self, id_sha256: str) -> None:
        await self.pool.execute("DELETE FROM browser_sessions WHERE id_sha256 = $1", id_sha256)

    async def purge_browser_sessions(self, now: datetime) -> int:
        status = await self.pool.execute("DELETE FROM browser_sessions WHERE expires_at <= $1", now)
        return int(status.rsplit(" ", 1)[-1])


def _agent_and_extra(row) -> tuple[AgentRow, object] | None:
    """An agent row selected with one more column named `extra`."""
    if row is None:
        return None
    fields = dict(row)
    extra = fields.pop("extra")
    return AgentRow(**fields), extra
