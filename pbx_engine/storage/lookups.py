"""What number look-up providers said (`number_lookups`), and what it changes: a number said
not to be valid becomes a dead number; a mobile or landline line type is written to the case
files' numbers, which SMS and consent rules read."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from pbx_engine.lookups.provider import LineCheck, LineType


class LookupStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def recent(self, e164: str, since: datetime) -> LineCheck | None:
        """The look-up kept for `e164` if made at `since` or later."""
        row = await self.pool.fetchrow(
            "SELECT valid, line_type, carrier, why FROM number_lookups "
            "WHERE e164 = $1 AND looked_up_at >= $2",
            e164,
            since,
        )
        if row is None:
            return None
        return LineCheck(e164, row["valid"], LineType(row["line_type"]), row["carrier"], row["why"])

    async def keep(self, check: LineCheck, provider: str, at: datetime) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO number_lookups (e164, provider, valid, line_type, carrier, why,
                                               looked_up_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)
                   ON CONFLICT (e164) DO UPDATE SET provider = $2, valid = $3, line_type = $4,
                       carrier = $5, why = $6, looked_up_at = $7""",
                check.e164,
                provider,
                check.valid,
                check.line_type.value,
                check.carrier,
                check.why,
                at,
            )
            if not check.valid:
                await conn.execute(
                    "INSERT INTO dead_numbers (e164, reason, since) VALUES ($1, $2, $3) "
                    "ON CONFLICT (e164) DO NOTHING",
                    check.e164,
                    check.why or "lookup: not a valid number",
                    at,
                )
            elif check.line_type in (LineType.MOBILE, LineType.LANDLINE):
                await conn.execute(
                    "UPDATE phone_numbers SET kind = $2 WHERE e164 = $1 AND kind <> 'work'",
                    check.e164,
                    check.line_type.value,
                )
