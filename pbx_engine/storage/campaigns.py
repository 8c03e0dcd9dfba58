"""Campaigns, and the cases their planner is offered (or told to leave alone for a while)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg

from pbx_engine.cases.models import AttemptRecord, CaseCandidate, NumberHistory


@dataclass(frozen=True)
class CampaignCalls:
    by_outcome: dict[str, int]  # outcome -> calls
    span: float  # seconds since the first of them was placed
    last_hour_lives: tuple[tuple[float, bool], ...]  # (seconds ago, abandoned), people answering


class CampaignStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def upsert_campaign(self, name: str, dial_mode: str, settings_json: str = "{}") -> int:
        return await self.pool.fetchval(
            """INSERT INTO campaigns (name, dial_mode, settings) VALUES ($1, $2, $3::jsonb)
               ON CONFLICT (name) DO UPDATE SET dial_mode = EXCLUDED.dial_mode,
                   settings = EXCLUDED.settings
               RETURNING id""",
            name,
            dial_mode,
            settings_json,
        )

    async def set_run_state(self, campaign_id: int, state: str, at: datetime) -> None:
        """What an operator told the campaign to do, for an engine started later to resume."""
        await self.pool.execute(
            "UPDATE campaigns SET run_state = $2, run_state_at = $3 WHERE id = $1",
            campaign_id,
            state,
            at,
        )

    async def run_state(self, campaign_id: int) -> str:
        return await self.pool.fetchval(
            "SELECT run_state FROM campaigns WHERE id = $1", campaign_id
        )

    async def campaign_candidates(
        self,
        campaign_id: int,
        *,
        now: datetime,
        limit: int,
        segments: list[str] | None = None,
        days_past_due: tuple[int, int] | None = None,
        amount: tuple[Decimal, Decimal] | None = None,
    ) -> list[CaseCandidate]:
        """Open cases of the campaign that are due, with their numbers and the last month of
        attempts, oldest debts first (the planner orders them by the campaign's priority)."""
        rows = await self.pool.fetch(
            """WITH picked AS (
                   SELECT c.id, c.amount_owed, c.due_date, c.timezone, c.next_call_at
                   FROM cases c
                   WHERE c.campaign_id = $1 AND c.status = 'open'
                     AND ($2::text[] IS NULL OR c.segment = ANY($2))
                     AND ($3::int IS NULL OR c.due_date <= ($9::timestamptz)::date - $3)
                     AND ($4::int IS NULL OR c.due_date >= ($9::timestamptz)::date - $4)
                     AND ($5::numeric IS NULL OR c.amount_owed >= $5)
                     AND ($6::numeric IS NULL OR c.amount_owed <= $6)
                     AND (c.next_call_at IS NULL OR c.next_call_at <= $9)
                     AND (c.dial_after IS NULL OR c.dial_after <= $9)
                     AND (c.skipped_until IS NULL OR c.skipped_until <= $9)
                     -- a case with a callback pending is the callback queue's
                     AND NOT EXISTS (SELECT 1 FROM callbacks cb
                                     WHERE cb.case_id = c.id AND cb.status = 'pending')
                   ORDER BY c.due_date NULLS LAST, c.id
                   LIMIT $7
               )
               SELECT p.id AS case_id, p.amount_owed, p.due_date, p.timezone, p.next_call_at,
                      n.id AS phone_id, n.e164, n.position, n.kind,
                      (d.e164 IS NOT NULL) AS dnc,
                      (consent.consent = 'revoked') IS TRUE AS calls_revoked,
                      consent.until AS calls_revoked_until,
                      a.created_at, a.ended_at, a.outcome,
                      (a.bridged_at IS NOT NULL) AS conversation, a.abandoned
               FROM picked p
               JOIN phone_numbers n ON n.case_id = p.id AND NOT n.wrong_party
                    -- the network said it does not exist (sql/025_dead_numbers.sql)
                    AND NOT EXISTS (SELECT 1 FROM dead_numbers dn WHERE dn.e164 = n.e164)
               LEFT JOIN do_not_call d ON d.e164 = n.e164
               -- The consent ledger's say on calls to the number (sql/023_latest_consent.sql).
               LEFT JOIN LATERAL latest_consent(n.e164, 'call', $9) consent ON true
               LEFT JOIN call_attempts a ON a.phone_number_id = n.id
                    AND a.created_at > $9::timestamptz - $8::interval
               ORDER BY p.id, n.position, a.created_at""",
            campaign_id,
            segments,
            days_past_due[0] if days_past_due else None,
            days_past_due[1] if days_past_due else None,
            amount[0] if amount else None,
            amount[1] if amount else None,
            limit,
            timedelta(days=31),
            now,
        )
        return _assemble_candidates(rows)

    async def defer_cases(self, deferrals: list[tuple[int, datetime | None]]) -> None:
        """Mark cases the planner could not call with when they may be due again (None: not
        while things stay as they are), so later batches reach the cases behind them."""
        if not deferrals:
            return
        await self.pool.execute(
            """UPDATE cases c SET dial_after = coalesce(d.until, 'infinity')
               FROM unnest($1::bigint[], $2::timestamptz[]) AS d(id, until)
               WHERE c.id = d.id""",
            [case_id for case_id, _ in deferrals],
            [until for _, until in deferrals],
        )

    async def skip_case(self, case_id: int, agent_id: int | None, until: datetime) -> None:
        """An agent passed the case over in preview: not offered again before `until`."""
        await self.pool.execute(
            "UPDATE cases SET skipped_until = $2, skipped_by = $3 WHERE id = $1",
            case_id,
            until,
            agent_id,
        )

    async def calls_over(self, campaign_id: int, period: timedelta) -> CampaignCalls:
        """The campaign's settled calls placed within `period` of now, whoever placed them:
        counts by outcome, and each live answer of the last hour (for the abandon budget)."""
        async with self.pool.acquire() as conn:
            totals = await conn.fetch(
                """SELECT outcome, count(*) AS calls,
                          extract(epoch FROM now() - min(created_at)) AS first_ago
                   FROM call_attempts
                   WHERE campaign_id = $1 AND direction = 'outbound' AND ended_at IS NOT NULL
                     AND created_at > now() - $2::interval
                   GROUP BY outcome""",
                campaign_id,
                period,
            )
            recent = await conn.fetch(
                """SELECT extract(epoch FROM now() - coalesce(bridged_at, ended_at)) AS ago,
                          outcome = 'abandoned' AS abandoned
                   FROM call_attempts
                   WHERE campaign_id = $1 AND direction = 'outbound' AND ended_at IS NOT NULL
                     AND outcome IN ('human', 'abandoned')
                     AND coalesce(bridged_at, ended_at) > now() - interval '1 hour'
                     AND created_at > now() - $2::interval""",
                campaign_id,
                period,
            )
        return CampaignCalls(
            by_outcome={row["outcome"]: row["calls"] for row in totals},
            span=max((float(row["first_ago"]) for row in totals), default=0.0),
            last_hour_lives=tuple((float(r["ago"]), r["abandoned"]) for r in recent),
        )

    async def clear_deferrals(self, campaign_id: int) -> None:
        """Forget the planner's marks: the campaign (re)starts, perhaps with other rules."""
        await self.pool.execute(
            "UPDATE cases SET dial_after = NULL WHERE campaign_id = $1 AND dial_after IS NOT NULL",
            campaign_id,
        )


def _assemble_candidates(rows) -> list[CaseCandidate]:
    cases: dict[int, dict] = {}
    for row in rows:
        case = cases.setdefault(row["case_id"], {"row": row, "numbers": {}})
        number = case["numbers"].setdefault(row["phone_id"], {"row": row, "attempts": []})
        if row["created_at"] is not None:
            number["attempts"].append(
                AttemptRecord(
                    at=row["created_at"],
                    ended_at=row["ended_at"],
                    outcome=row["outcome"],
                    conversation=row["conversation"],
                    abandoned=row["abandoned"],
                )
            )
    return [
        CaseCandidate(
            case_id=case_id,
            numbers=tuple(
                NumberHistory(
                    phone_id,
                    n["row"]["e164"],
                    n["row"]["position"],
                    tuple(n["attempts"]),
                    n["row"]["dnc"],
                    n["row"]["kind"],
                    n["row"]["calls_revoked"],
                    n["row"]["calls_revoked_until"],
                )
                for phone_id, n in case["numbers"].items()
            ),
            amount_owed=case["row"]["amount_owed"],
            due_date=case["row"]["due_date"],
            timezone=case["row"]["timezone"],
            next_call_at=case["row"]["next_call_at"],
        )
        for case_id, case in cases.items()
    ]
