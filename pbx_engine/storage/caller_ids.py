"""How the numbers we present have been used (what the caller-ID choice reads)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import asyncpg


class NumberStats(NamedTuple):
    """A presented number's outbound calls over the health window."""

    calls: int
    answered: int  # by a person or a machine; not those only a screening assistant took
    screened: int = 0  # taken by a phone's screening assistant (the person came, or not)


class CallerIdStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def caller_id_usage(
        self, numbers: list[str], day_start: datetime
    ) -> dict[str, tuple[int, datetime | None]]:
        """Per presented number: calls since `day_start`, and its last call ever (recent)."""
        if not numbers:
            return {}
        rows = await self.pool.fetch(
            """SELECT caller_id, count(*) FILTER (WHERE created_at >= $2) AS today,
                      max(created_at) AS last_used
               FROM call_attempts
               WHERE caller_id = ANY($1) AND created_at >= $2 - interval '7 days'
                 AND outcome <> 'not_placed'
               GROUP BY caller_id""",
            numbers,
            day_start,
        )
        return {r["caller_id"]: (r["today"], r["last_used"]) for r in rows}

    async def caller_id_stats(self, numbers: list[str], since: datetime) -> dict[str, NumberStats]:
        """Per presented number since `since`: outbound calls, those answered (a call only a
        phone's screening assistant took is not: its owner did not take it), those screened."""
        if not numbers:
            return {}
        rows = await self.pool.fetch(
            """SELECT caller_id, count(*) AS calls,
                      count(*) FILTER (WHERE answered_at IS NOT NULL
                                         AND (screened_at IS NULL OR bridged_at IS NOT NULL))
                          AS answered,
                      count(*) FILTER (WHERE screened_at IS NOT NULL) AS screened
               FROM call_attempts
               WHERE caller_id = ANY($1) AND created_at >= $2 AND direction = 'outbound'
                 AND outcome <> 'not_placed'
               GROUP BY caller_id""",
            numbers,
            since,
        )
        return {r["caller_id"]: NumberStats(r["calls"], r["answered"], r["screened"]) for r in rows}

    async def caller_ids_used_for_case(self, case_id: int, since: datetime) -> dict[str, datetime]:
        """The numbers presented to this case's debtor since `since`, with their last use."""
        rows = await self.pool.fetch(
            """SELECT caller_id, max(created_at) AS last_used FROM call_attempts
               WHERE case_id = $1 AND created_at >= $2 AND caller_id IS NOT NULL
                 AND outcome <> 'not_placed'
               GROUP BY caller_id""",
            case_id,
            since,
        )
        return {r["caller_id"]: r["last_used"] for r in rows}
