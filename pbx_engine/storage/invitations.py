"""Invitation links to conference rooms: their rows (uses left, revoked) and the agents who
minted them (a disabled agent's links die with him)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class InvitationRow:
    id: str
    room: str
    created_by: int | None
    created_at: datetime
    expires_at: datetime
    max_uses: int
    uses: int
    revoked_at: datetime | None

    def live(self, now: datetime) -> bool:
        return self.revoked_at is None and self.uses < self.max_uses and now < self.expires_at

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "room": self.room,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "max_uses": self.max_uses,
            "uses": self.uses,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


_COLUMNS = (
    "i.id, i.room, i.created_by, i.created_at, i.expires_at, i.max_uses, i.uses, i.revoked_at"
)
# A link minted by an agent who was disabled since is dead even if its row was missed.
_LIVE_CREATOR = (
    "NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = i.created_by AND a.disabled_at IS NOT NULL)"
)


class InvitationStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(
        self, id: str, room: str, created_by: int | None, expires_at: datetime, max_uses: int
    ) -> InvitationRow:
        row = await self.pool.fetchrow(
            "INSERT INTO room_invitations AS i (id, room, created_by, expires_at, max_uses) "
            f"VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
            id,
            room,
            created_by,
            expires_at,
            max_uses,
        )
        return InvitationRow(**dict(row))

    async def get(self, id: str) -> InvitationRow | None:
        """The link's row, None if it never existed, its room was deleted or its maker was
        disabled."""
        row = await self.pool.fetchrow(
            f"SELECT {_COLUMNS} FROM room_invitations i WHERE i.id = $1 AND {_LIVE_CREATOR}", id
        )
        return InvitationRow(**dict(row)) if row else None

    async def use(self, id: str, now: datetime) -> InvitationRow | None:
        """Count one use of a live link, atomically (two guests racing for the last use: one
        gets it); None if the link is used up, revoked, expired or gone."""
        row = await self.pool.fetchrow(
            f"UPDATE room_invitations i SET uses = uses + 1 WHERE i.id = $1 "
            f"AND i.revoked_at IS NULL AND i.uses < i.max_uses AND i.expires_at > $2 "
            f"AND {_LIVE_CREATOR} RETURNING {_COLUMNS}",
            id,
            now,
        )
        return InvitationRow(**dict(row)) if row else None

    async def give_back(self, id: str) -> None:
        """A use that caused no call (refused before ringing) is returned to the link."""
        await self.pool.execute(
            "UPDATE room_invitations SET uses = uses - 1 WHERE id = $1 AND uses > 0", id
        )

    async def of_room(self, room: str) -> list[InvitationRow]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM room_invitations i WHERE i.room = $1 "
            "ORDER BY i.created_at DESC",
            room,
        )
        return [InvitationRow(**dict(r)) for r in rows]

    async def revoke(self, id: str, room: str, now: datetime) -> bool:
        status = await self.pool.execute(
            "UPDATE room_invitations SET revoked_at = $3 "
            "WHERE id = $1 AND room = $2 AND revoked_at IS NULL",
            id,
            room,
            now,
        )
        return status.endswith(" 1")

    async def delete_room(self, room: str) -> None:
        """The room is gone: so are its links (a room made again later starts without any)."""
        await self.pool.execute("DELETE FROM room_invitations WHERE room = $1", room)
