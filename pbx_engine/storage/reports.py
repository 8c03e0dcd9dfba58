"""Figures for supervisors and reports: abandon rates, dead air, occupancy, daily sums."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from pbx_engine.storage.models import JsonRow


@dataclass(frozen=True)
class AbandonRate:
    """Abandoned calls over live answers for one period. With an AMD false-positive share,
    the counts include that estimate (rounded to two places)."""

    abandons: float
    live: float
    rate: float
    estimated_amd_false_positives: float | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"abandons": self.abandons, "live": self.live, "rate": self.rate}
        if self.estimated_amd_false_positives is not None:
            out["estimated_amd_false_positives"] = self.estimated_amd_false_positives
        return out


@dataclass(frozen=True)
class DailySums:
    """One day's sums (the centre's day) for a campaign and an agent (None: calls of no
    campaign, or calls nobody took): what the report arithmetic adds up and divides."""

    day: date
    campaign_id: int | None
    campaign: str | None
    agent_id: int | None
    agent: str | None
    attempts: int
    contacts: int
    abandons: int
    right_party: int
    promises: int
    promised: Decimal
    kept: int
    handled: int
    handle_seconds: Decimal  # talk and wrap-up of the handled calls


@dataclass(frozen=True)
class ChartSlot(JsonRow):
    """A quarter of an hour of a campaign's day."""

    slot: datetime
    attempts: int
    connects: int
    abandons: int


@dataclass(frozen=True)
class CampaignReport:
    """A campaign's outbound attempts by outcome, and its dead air (milliseconds, p50/p99)."""

    attempts: int
    contacts: int
    machines: int
    abandons: int
    busy: int
    no_answer: int
    # Calls a phone's screening assistant took (its own count: a machine's verdict came first,
    # and some of them reached a person after all, who is among the contacts too).
    screened: int
    verdict_to_bridge_p50_ms: float | None
    verdict_to_bridge_p99_ms: float | None
    answer_to_bridge_p50_ms: float | None
    answer_to_bridge_p99_ms: float | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PromiseTotals:
    count: int
    amount: Decimal


@dataclass(frozen=True)
class StateChange:
    agent_id: int
    state: str
    at: datetime


class ReportStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def abandon_rates(
        self, campaign_id: int, now: datetime, *, amd_false_positive_share: float = 0.0
    ) -> dict[str, AbandonRate]:
        """Abandoned calls over live answers for the regulators' periods: the calendar day (in
        `now`'s zone), the last 24 hours (Ofcom) and the last 30 days (FTC). With a
        false-positive share, that share of machine verdicts counts as people abandoned
        (Ofcom)."""
        periods = {
            "today": datetime(now.year, now.month, now.day, tzinfo=now.tzinfo),
            "24h": now - timedelta(hours=24),
            "30d": now - timedelta(days=30),
        }
        rates = {}
        for name, since in periods.items():
            row = await self.pool.fetchrow(
                """SELECT count(*) FILTER (WHERE abandoned) AS abandons,
                          count(*) FILTER (WHERE abandoned OR bridged_at IS NOT NULL) AS live,
                          count(*) FILTER (WHERE outcome = 'machine') AS machines
                   FROM call_attempts
                   WHERE campaign_id = $1 AND direction = 'outbound' AND created_at >= $2""",
                campaign_id,
                since,
            )
            estimated = row["machines"] * amd_false_positive_share
            abandons, live = row["abandons"] + estimated, row["live"] + estimated
            rates[name] = AbandonRate(
                abandons=round(abandons, 2) if estimated else row["abandons"],
                live=round(live, 2) if estimated else row["live"],
                rate=round(abandons / live, 4) if live else 0.0,
                estimated_amd_false_positives=round(estimated, 2) if estimated else None,
            )
        return rates

    async def campaign_report(
        self, campaign_id: int, since: datetime | None = None
    ) -> CampaignReport:
        """A campaign's outbound attempts since `since` (all when None): counts by outcome, and
        dead air, the silence a debtor hears before his agent: from the AMD verdict to the
        bridge (the engine's part) and from the answer (AMD's listening included), p50/p99."""
        row = await self.pool.fetchrow(
            """SELECT count(*) AS attempts,
                      count(*) FILTER (WHERE bridged_at IS NOT NULL) AS contacts,
                      count(*) FILTER (WHERE outcome IN ('machine', 'silence', 'fax'))
                          AS machines,
                      count(*) FILTER (WHERE abandoned) AS abandons,
                      count(*) FILTER (WHERE outcome = 'busy') AS busy,
                      count(*) FILTER (WHERE outcome = 'no_answer') AS no_answer,
                      count(*) FILTER (WHERE screened_at IS NOT NULL) AS screened,
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY
                          extract(epoch FROM bridged_at - amd_decided_at)) AS verdict_p50,
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY
                          extract(epoch FROM bridged_at - amd_decided_at)) AS verdict_p99,
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY
                          extract(epoch FROM bridged_at - answered_at)) AS answer_p50,
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY
                          extract(epoch FROM bridged_at - answered_at)) AS answer_p99
               FROM call_attempts
               WHERE campaign_id = $1 AND direction = 'outbound' AND outcome <> 'not_placed'
                 AND ($2::timestamptz IS NULL OR created_at >= $2)""",
            campaign_id,
            since,
        )

        def ms(seconds: float | None) -> float | None:
            return None if seconds is None else round(seconds * 1000, 1)

        return CampaignReport(
            attempts=row["attempts"],
            contacts=row["contacts"],
            machines=row["machines"],
            abandons=row["abandons"],
            busy=row["busy"],
            no_answer=row["no_answer"],
            screened=row["screened"],
            verdict_to_bridge_p50_ms=ms(row["verdict_p50"]),
            verdict_to_bridge_p99_ms=ms(row["verdict_p99"]),
            answer_to_bridge_p50_ms=ms(row["answer_p50"]),
            answer_to_bridge_p99_ms=ms(row["answer_p99"]),
        )

    async def promise_totals(self) -> PromiseTotals:
        """Promises to pay recorded so far: how many, and for how much."""
        row = await self.pool.fetchrow(
            "SELECT count(*) AS n, coalesce(sum(promise_amount), 0) AS amount FROM dispositions "
            "WHERE code = 'promise_to_pay'"
        )
        return PromiseTotals(row["n"], row["amount"])

    async def agent_state_changes_since(self, since: datetime) -> list[StateChange]:
        """Every agent's state changes since `since`, by agent then time (for occupancy),
        each agent's first being the state he was in at `since` (a shift begun before
        midnight counts from midnight, not from his first change after it)."""
        rows = await self.pool.fetch(
            """SELECT agent_id, state, at FROM (
                   SELECT a.id AS agent_id, s.state, $1::timestamptz AS at, 0 AS carried_first
                   FROM agents a CROSS JOIN LATERAL (
                       SELECT state FROM agent_state_changes
                       WHERE agent_id = a.id AND at < $1 ORDER BY at DESC, id DESC LIMIT 1) s
                   UNION ALL
                   SELECT agent_id, state, at, 1 FROM agent_state_changes WHERE at >= $1
               ) changes
               ORDER BY agent_id, at, carried_first""",
            since,
        )
        return [StateChange(**dict(r)) for r in rows]

    async def campaign_day_chart(self, campaign_id: int, since: datetime) -> list[ChartSlot]:
        """Per 15 minutes since `since`: attempts, connects (put through) and abandons."""
        rows = await self.pool.fetch(
            """SELECT date_bin('15 minutes', created_at, $2) AS slot,
                      count(*) AS attempts,
                      count(*) FILTER (WHERE bridged_at IS NOT NULL) AS connects,
                      count(*) FILTER (WHERE abandoned) AS abandons
               FROM call_attempts
               WHERE campaign_id = $1 AND direction = 'outbound' AND created_at >= $2
                 AND outcome <> 'not_placed'
               GROUP BY slot ORDER BY slot""",
            campaign_id,
            since,
        )
        return [ChartSlot(**dict(r)) for r in rows]

    async def daily_figures(
        self, since: date, until: date, *, zone: str = "UTC"
    ) -> list[DailySums]:
        """Sums per day (the centre's, in `zone`), campaign and agent (the agent who took the
        call; none for calls nobody took), from `since` to `until` inclusive: what reports are
        made of."""
        where = ZoneInfo(zone)
        start = datetime.combine(since, time(0), tzinfo=where)
        end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=where)
        rows = await self.pool.fetch(_DAILY_FIGURES_SQL, start, end, zone)
        return [DailySums(**dict(r)) for r in rows]


# Per day in the centre's zone ($3), campaign and agent. Right-party contacts are calls with a
# disposition that reached the debtor (everything but wrong party); a promise is kept when the
# case's payments from the day it was made to three days after its date cover it; handle time
# is talk (bridge to hang-up) plus the agent's wrap-up after the call.
_DAILY_FIGURES_SQL = """
WITH wraps AS (
    SELECT channel_id, state,
           extract(epoch FROM lead(at) OVER (PARTITION BY agent_id ORDER BY at, id) - at) AS s
    FROM agent_state_changes
    WHERE at >= $1::timestamptz AND at < $2::timestamptz + interval '1 day'  -- past midnight
), calls AS (
    SELECT a.id, (a.created_at AT TIME ZONE $3)::date AS day, a.campaign_id, a.agent_id,
           a.direction, a.bridged_at IS NOT NULL AS contact, a.abandoned,
           extract(epoch FROM a.ended_at - a.bridged_at) AS talk_s,
           (SELECT w.s FROM wraps w WHERE w.channel_id = a.channel_id AND w.state = 'wrap_up'
            LIMIT 1) AS wrap_s
    FROM call_attempts a
    WHERE a.created_at >= $1 AND a.created_at < $2 AND a.outcome <> 'not_placed'
), promises AS (
    SELECT d.attempt_id, d.promise_amount, promise_kept(d.id, $3) AS kept
    FROM dispositions d WHERE d.code = 'promise_to_pay'
)
SELECT k.day, k.campaign_id, cp.name AS campaign, k.agent_id, g.login AS agent,
       count(*) FILTER (WHERE k.direction = 'outbound') AS attempts,
       count(*) FILTER (WHERE k.contact) AS contacts,
       count(*) FILTER (WHERE k.abandoned) AS abandons,
       count(*) FILTER (WHERE d.right_party) AS right_party,
       coalesce(sum(pr.n), 0) AS promises,
       coalesce(sum(pr.amount), 0) AS promised,
       coalesce(sum(pr.kept), 0) AS kept,
       count(*) FILTER (WHERE k.contact AND k.talk_s IS NOT NULL) AS handled,
       coalesce(sum(k.talk_s + coalesce(k.wrap_s, 0))
                FILTER (WHERE k.contact AND k.talk_s IS NOT NULL), 0) AS handle_seconds
FROM calls k
-- per call, however many dispositions were saved for it (a note, then a promise)
LEFT JOIN LATERAL (
    SELECT bool_or(code <> 'wrong_party') AS right_party
    FROM dispositions WHERE attempt_id = k.id) d ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS n, sum(promise_amount) AS amount,
           count(*) FILTER (WHERE kept) AS kept
    FROM promises WHERE attempt_id = k.id) pr ON true
LEFT JOIN campaigns cp ON cp.id = k.campaign_id
LEFT JOIN agents g ON g.id = k.agent_id
GROUP BY k.day, k.campaign_id, cp.name, k.agent_id, g.login
ORDER BY k.day, cp.name, g.login
"""
