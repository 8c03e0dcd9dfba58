"""Conference rooms created at run time (the configured ones are not stored)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class StoredRoom:
    name: str
    extension: str | None
    did: str | None
    pin: str | None  # a scrypt hash (or, on rows older than hashing, the plain PIN)
    moderator_pin: str | None
    moderator: str | None
    max_members: int
    tones: bool


class RoomStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def save_room(self, room: dict, created_by: int | None) -> None:
        await self.pool.execute(
            """INSERT INTO conference_rooms
                   (name, extension, did, pin, moderator_pin, moderator, max_members, tones,
                    created_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            room["name"],
            room.get("extension"),
            room.get("did"),
            room.get("pin"),
            room.get("moderator_pin"),
            room.get("moderator"),
            room.get("max_members", 10),
            room.get("tones", True),
            created_by,
        )

    async def stored_rooms(self) -> list[StoredRoom]:
        rows = await self.pool.fetch(
            """SELECT name, extension, did, pin, moderator_pin, moderator, max_members, tones
               FROM conference_rooms ORDER BY name"""
        )
        return [StoredRoom(**dict(r)) for r in rows]

    async def delete_room(self, name: str) -> bool:
        status = await self.pool.execute("DELETE FROM conference_rooms WHERE name = $1", name)
        return status.endswith(" 1")
