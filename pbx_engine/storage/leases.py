"""Campaign leases: which engine dials a campaign, and the fencing token its calls carry."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Fence:
    """What the insert placing a call checks: this holder's lease on the campaign, with this
    token, still unexpired in the database's clock."""

    campaign_id: int
    holder: str
    token: int


@dataclass(frozen=True)
class Taken:
    """A lease taken: its token, and the engine that held it before (None: nobody, or the
    same engine restarted), whose calls may need a new owner."""

    token: int
    taken_from: str | None = None


class FenceRefused(Exception):
    """The campaign's lease is another engine's now (or expired): the call is not placed."""


class LeaseStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def take(self, campaign_id: int, holder: str, seconds: float) -> Taken | None:
        """A fresh lease for `holder` when the campaign's is free, expired or already his
        (an engine restarted under the same name): its new token, raised above any before,
        and the engine it was taken from; None while another engine holds it."""
        row = await self.pool.fetchrow(
            """WITH before AS (SELECT holder FROM campaign_leases WHERE campaign_id = $1)
               INSERT INTO campaign_leases AS l (campaign_id, holder, token, expires_at)
               VALUES ($1, $2, 1, now() + make_interval(secs => $3))
               ON CONFLICT (campaign_id) DO UPDATE
                   SET holder = EXCLUDED.holder, token = l.token + 1,
                       expires_at = EXCLUDED.expires_at
                   WHERE l.expires_at <= now() OR l.holder = EXCLUDED.holder
               RETURNING token, (SELECT holder FROM before) AS previous""",
            campaign_id,
            holder,
            seconds,
        )
        if row is None:
            return None
        previous = row["previous"]
        return Taken(row["token"], previous if previous != holder else None)

    async def renew(self, fence: Fence, seconds: float) -> bool:
        """Extend the lease `fence` names; False when it is no longer his (taken, or expired
        and taken since)."""
        renewed = await self.pool.fetchval(
            """UPDATE campaign_leases SET expires_at = now() + make_interval(secs => $4)
               WHERE campaign_id = $1 AND holder = $2 AND token = $3
               RETURNING true""",
            fence.campaign_id,
            fence.holder,
            fence.token,
            seconds,
        )
        return bool(renewed)

    async def release(self, fence: Fence) -> None:
        """Let the lease go at once (a campaign stopped, an engine shutting down)."""
        await self.pool.execute(
            """UPDATE campaign_leases SET expires_at = now()
               WHERE campaign_id = $1 AND holder = $2 AND token = $3""",
            fence.campaign_id,
            fence.holder,
            fence.token,
        )
