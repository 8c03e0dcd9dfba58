"""Conference rooms' PINs on record: scrypt hashes (plain PINs of older rows are replaced when
the engine loads them)."""

from __future__ import annotations

import asyncpg


class RoomPinStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def set_pins(self, room: str, pin: str | None, moderator_pin: str | None) -> None:
        await self.pool.execute(
            "UPDATE conference_rooms SET pin = $2, moderator_pin = $3 WHERE name = $1",
            room,
            pin,
            moderator_pin,
        )
