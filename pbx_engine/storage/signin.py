"""API tokens with an expiry, and browser sessions that end when left unused.

Only a token's SHA-256 is stored; a token past its expiry is refused like an unknown one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from pbx_engine.storage.models import AgentRow

TOKEN_LIFETIME = timedelta(days=90)  # the default of `[web] token_lifetime_days`
# A disabled agent is found by no token (his token is also cleared when he is disabled).
_AGENT = (
    "SELECT a.id, a.login, a.name, a.sip_endpoint, a.role, t.name AS team "
    "FROM (SELECT * FROM agents WHERE disabled_at IS NULL) a LEFT JOIN teams t ON t.id = a.team_id"
)


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, to whoever asked for it
    expires_at: datetime


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SignInStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def issue_token(self, login: str, expires_at: datetime) -> IssuedToken | None:
        """A new API token for the agent (the old one stops working); None: no such agent."""
        token = secrets.token_urlsafe(24)
        changed = await self.pool.execute(
            "UPDATE agents SET token_sha256 = $2, token_expires_at = $3 "
            "WHERE login = $1 AND disabled_at IS NULL",
            login,
            token_digest(token),
            expires_at,
        )
        return IssuedToken(token, expires_at) if changed.endswith(" 1") else None

    async def rotate_token(self, agent_id: int, expires_at: datetime) -> IssuedToken:
        """The agent's token replaced by a new one: the old one stops working at once."""
        token = secrets.token_urlsafe(24)
        await self.pool.execute(
            "UPDATE agents SET token_sha256 = $2, token_expires_at = $3 WHERE id = $1",
            agent_id,
            token_digest(token),
            expires_at,
        )
        return IssuedToken(token, expires_at)

    async def agent_by_token(self, token: str, now: datetime) -> AgentRow | None:
        """The token's agent while the token has not expired."""
        row = await self.pool.fetchrow(
            f"{_AGENT} WHERE a.token_sha256 = $1 AND a.token_expires_at > $2",
            token_digest(token),
            now,
        )
        return AgentRow(**dict(row)) if row else None

    async def token_expiry(self, agent_id: int) -> datetime | None:
        return await self.pool.fetchval(
            "SELECT token_expires_at FROM agents WHERE id = $1 AND token_sha256 IS NOT NULL",
            agent_id,
        )

    async def touch_session(self, id_sha256: str, now: datetime, idle: timedelta) -> bool:
        """The session was used now. False when it had been left unused for `idle` or longer:
        it is then ended (its row deleted)."""
        alive = await self.pool.fetchval(
            "UPDATE browser_sessions SET last_seen_at = GREATEST(last_seen_at, $2) "
            "WHERE id_sha256 = $1 AND last_seen_at > $2::timestamptz - $3::interval "
            "RETURNING true",
            id_sha256,
            now,
            idle,
        )
        if alive:
            return True
        await self.pool.execute("DELETE FROM browser_sessions WHERE id_sha256 = $1", id_sha256)
        return False

    async def purge_idle_sessions(self, now: datetime, idle: timedelta) -> int:
        status = await self.pool.execute(
            "DELETE FROM browser_sessions WHERE last_seen_at <= $1::timestamptz - $2::interval",
            now,
            idle,
        )
        return int(status.rsplit(" ", 1)[-1])
