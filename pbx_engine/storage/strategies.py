"""Contact strategies on record: the cases a campaign's strategy looks at, as it sees them; the
side of a split each case is on; the steps each case has had."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import asyncpg


@dataclass(frozen=True)
class StrategyCaseRow:
    """What a strategy decides on, straight from the tables (`strategies.plan` reads it)."""

    case_id: int
    due_date: date | None
    segment: str | None
    amount_owed: Decimal
    last_disposition: str | None
    promise_date: date | None
    paid_since: bool  # a payment on or after the last disposition's day
    steps_done: tuple[str, ...]


class StrategyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def cases_for(
        self, campaign_id: int, strategy: str, *, after: int = 0, limit: int = 1000
    ) -> list[StrategyCaseRow]:
        """The campaign's open and promised cases with ids above `after` (a page: call again
        from the last id until a page comes back short), with their last disposition and
        the steps of `strategy` they have had."""
        rows = await self.pool.fetch(
            """SELECT c.id AS case_id, c.due_date, c.segment, c.amount_owed,
                      d.code AS last_disposition, d.promise_date,
                      d.created_at IS NOT NULL AND EXISTS (
                          SELECT 1 FROM payments pay WHERE pay.case_id = c.id
                            AND pay.paid_on >= d.created_at::date) AS paid_since,
                      coalesce((SELECT array_agg(s.step ORDER BY s.step) FROM strategy_steps s
                                WHERE s.case_id = c.id AND s.strategy = $2), '{}') AS steps_done
               FROM cases c
               LEFT JOIN LATERAL (
                   SELECT code, promise_date, created_at FROM dispositions
                   WHERE case_id = c.id ORDER BY created_at DESC, id DESC LIMIT 1
               ) d ON true
               WHERE c.campaign_id = $1 AND c.status IN ('open', 'promised') AND c.id > $4
               ORDER BY c.id LIMIT $3""",
            campaign_id,
            strategy,
            limit,
            after,
        )
        return [StrategyCaseRow(**{**dict(r), "steps_done": tuple(r["steps_done"])}) for r in rows]

    async def assign(
        self, case_id: int, campaign_id: int, split: str, side: str, strategy: str
    ) -> str:
        """The case's side in the split: the one on record if it has one, else this one."""
        return await self.pool.fetchval(
            """WITH added AS (
                   INSERT INTO strategy_cases (case_id, campaign_id, split, side, strategy)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING side
               )
               SELECT side FROM added UNION ALL
               SELECT side FROM strategy_cases
               WHERE case_id = $1 AND campaign_id = $2 AND split = $3
               LIMIT 1""",
            case_id,
            campaign_id,
            split,
            side,
            strategy,
        )

    async def step_done(
        self, case_id: int, strategy: str, step: str, outcome: str, message_id: int | None
    ) -> None:
        await self.pool.execute(
            """INSERT INTO strategy_steps (case_id, strategy, step, outcome, message_id)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
            case_id,
            strategy,
            step,
            outcome,
            message_id,
        )

    async def split_results(
        self, campaign_id: int, split: str, *, zone: str = "UTC"
    ) -> list[SplitCaseRow]:
        """Each case of the split with what became of it since it joined its side (a promise
        kept as `promise_kept` says, the centre's days in `zone`)."""
        rows = await self.pool.fetch(
            """SELECT sc.case_id, sc.side,
                      EXISTS (SELECT 1 FROM call_attempts a WHERE a.case_id = sc.case_id
                              AND a.created_at >= sc.since AND a.outcome = 'human')
                          AS contacted,
                      EXISTS (SELECT 1 FROM dispositions d WHERE d.case_id = sc.case_id
                              AND d.created_at >= sc.since AND d.code IN ('right_party',
                              'promise_to_pay', 'refused', 'dispute', 'callback',
                              'stop_calling')) AS right_party,
                      EXISTS (SELECT 1 FROM dispositions d WHERE d.case_id = sc.case_id
                              AND d.created_at >= sc.since AND d.code = 'promise_to_pay')
                          AS promised,
                      EXISTS (SELECT 1 FROM dispositions d
                              WHERE d.case_id = sc.case_id AND d.created_at >= sc.since
                                AND d.code = 'promise_to_pay' AND promise_kept(d.id, $3))
                          AS kept,
                      coalesce((SELECT sum(p.amount) FROM payments p WHERE p.case_id = sc.case_id
                                AND p.created_at >= sc.since), 0) AS collected,
                      (SELECT count(*) FROM call_attempts a WHERE a.case_id = sc.case_id
                       AND a.created_at >= sc.since AND a.outcome <> 'not_placed') AS attempts,
                      (SELECT count(*) FROM messages m WHERE m.case_id = sc.case_id
                       AND m.created_at >= sc.since
                       AND m.status IN ('sent', 'delivered', 'replied')) AS messages
               FROM strategy_cases sc
               WHERE sc.campaign_id = $1 AND sc.split = $2
               ORDER BY sc.case_id""",
            campaign_id,
            split,
            zone,
        )
        return [SplitCaseRow(**dict(r)) for r in rows]


@dataclass(frozen=True)
class SplitCaseRow:
    case_id: int
    side: str
    contacted: bool
    right_party: bool
    promised: bool
    kept: bool
    collected: Decimal
    attempts: int
    messages: int
