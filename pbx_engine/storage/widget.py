"""The website widget's requests: the counts its caps read, and the record of each request
(taken or refused) with the call back it became."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class WidgetRequest:
    at: datetime
    kind: str  # callback, call_now
    e164: str | None
    case_id: int | None
    allowed: bool
    reason: str
    client_address: str
    callback_id: int | None = None


class WidgetStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def counts(self, client_address: str, e164: str | None, now: datetime) -> tuple[int, int]:
        """(requests from the address in the last hour, call backs promised to the number in
        the last day)."""
        row = await self.pool.fetchrow(
            """SELECT
                 (SELECT count(*) FROM widget_requests
                   WHERE client_address = $1 AND at > $3) AS by_address,
                 (SELECT count(*) FROM widget_requests
                   WHERE e164 = $2 AND allowed AND at > $4) AS by_number""",
            client_address,
            e164,
            now - HOUR,
            now - DAY,
        )
        return row["by_address"], row["by_number"]

    async def record(self, request: WidgetRequest) -> int:
        return await self.pool.fetchval(
            """INSERT INTO widget_requests
                   (at, kind, e164, case_id, allowed, reason, client_address, callback_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
            request.at,
            request.kind,
            request.e164,
            request.case_id,
            request.allowed,
            request.reason,
            request.client_address,
            request.callback_id,
        )

    async def requests(self, limit: int = 100) -> list[WidgetRequest]:
        rows = await self.pool.fetch(
            """SELECT at, kind, e164, case_id, allowed, reason, client_address, callback_id
               FROM widget_requests ORDER BY at DESC, id DESC LIMIT $1""",
            limit,
        )
        return [WidgetRequest(**dict(row)) for row in rows]

    async def number_on_case(self, case_id: int, e164: str) -> bool:
        return bool(
            await self.pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM phone_numbers WHERE case_id = $1 AND e164 = $2)",
                case_id,
                e164,
            )
        )

    async def case_exists(self, case_id: int) -> bool:
        return bool(
            await self.pool.fetchval("SELECT EXISTS (SELECT 1 FROM cases WHERE id = $1)", case_id)
        )
