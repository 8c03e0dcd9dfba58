"""Call attempts: one row per call, inbound or outbound, from its creation to its outcome."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from pbx_engine.storage.leases import Fence, FenceRefused
from pbx_engine.storage.models import Attempt


class AttemptStore:
    def __init__(self, pool: asyncpg.Pool, engine: str | None = None) -> None:
        self.pool = pool
        self.engine = engine

    async def create_attempt(
        self,
        *,
        channel_id: str,
        dialled: str,
        direction: str = "outbound",
        caller_id: str | None = None,
        case_id: int | None = None,
        phone_number_id: int | None = None,
        campaign_id: int | None = None,
        agent_id: int | None = None,
        fence: Fence | None = None,
        node: str | None = None,
    ) -> int:
        """The attempt's row, marked with the engine placing or taking the call; with `fence`,
        only while that lease on the campaign is still its holder's, with that token,
        unexpired (else FenceRefused: no call is placed), and the row keeps the token."""
        made = await self.pool.fetchval(
            """INSERT INTO call_attempts (channel_id, direction, dialled, caller_id, case_id,
                                          phone_number_id, campaign_id, agent_id,
                                          placed_by, lease_token, node)
               SELECT $1, $2, $3, $4, $5, $6, $7, $8, $11, $10, $12
               WHERE $9::text IS NULL
                  OR EXISTS (SELECT 1 FROM campaign_leases
                             WHERE campaign_id = $7 AND holder = $9 AND token = $10
                               AND expires_at > now())
               RETURNING id""",
            channel_id,
            direction,
            dialled,
            caller_id,
            case_id,
            phone_number_id,
            fence.campaign_id if fence else campaign_id,
            agent_id,
            fence.holder if fence else None,
            fence.token if fence else None,
            fence.holder if fence else self.engine,
            node,
        )
        if made is None:
            assert fence is not None  # only a fence keeps the row out
            raise FenceRefused(
                f"campaign {fence.campaign_id}'s lease is no longer {fence.holder}'s "
                f"(token {fence.token})"
            )
        return made

    async def mark_attempt_originated(self, channel_id: str, at: datetime) -> None:
        await self.pool.execute(
            "UPDATE call_attempts SET originated_at = $2 WHERE channel_id = $1", channel_id, at
        )

    async def mark_attempt_ringing(self, channel_id: str, at: datetime) -> None:
        await self.pool.execute(
            "UPDATE call_attempts SET ringing_at = coalesce(ringing_at, $2) WHERE channel_id = $1",
            channel_id,
            at,
        )

    async def mark_attempt_answered(self, channel_id: str, at: datetime) -> None:
        await self.pool.execute(
            "UPDATE call_attempts SET answered_at = coalesce(answered_at, $2) "
            "WHERE channel_id = $1",
            channel_id,
            at,
        )

    async def record_amd(self, channel_id: str, status: str, cause: str, at: datetime) -> None:
        await self.pool.execute(
            "UPDATE call_attempts SET amd_status = $2, amd_cause = $3, amd_decided_at = $4 "
            "WHERE channel_id = $1",
            channel_id,
            status,
            cause,
            at,
        )

    async def finish_attempt(
        self,
        channel_id: str,
        *,
        ended_at: datetime,
        hangup_cause: int | None,
        hangup_cause_text: str | None,
        outcome: str,
        number_gone: str | None = None,
    ) -> bool:
        """Settle an attempt once; a second call (a late duplicate) changes nothing.
        `number_gone`: why the number dialled is dead (the network said it does not exist): it
        goes on the dead-number list with this attempt, in the same statement."""
        settled = await self.pool.fetchval(
            """WITH settled AS (
                   UPDATE call_attempts SET ended_at = $2, hangup_cause = $3,
                          hangup_cause_text = $4, outcome = $5
                   WHERE channel_id = $1 AND ended_at IS NULL
                   RETURNING id, dialled
               ), gone AS (
                   INSERT INTO dead_numbers (e164, reason, attempt_id, since)
                   SELECT dialled, $6, id, $2 FROM settled
                   WHERE $6::text IS NOT NULL AND dialled ~ '^\\+[1-9][0-9]{6,14}$'
                   ON CONFLICT (e164) DO NOTHING
               )
               SELECT count(*) FROM settled""",
            channel_id,
            ended_at,
            hangup_cause,
            hangup_cause_text,
            outcome,
            number_gone,
        )
        return settled == 1

    async def get_attempt(self, channel_id: str) -> Attempt | None:
        row = await self.pool.fetchrow(
            f"SELECT {_ATTEMPT_COLUMNS} FROM call_attempts WHERE channel_id = $1", channel_id
        )
        return Attempt(**dict(row)) if row else None

    async def open_attempts(self) -> list[Attempt]:
        """Calls not ended on record: this engine's (and unmarked ones, from before engines
        marked their calls); every engine's for a storage without an engine's name. Another
        engine's open call is its own to follow: it may not even be placed yet."""
        rows = await self.pool.fetch(
            f"SELECT {_ATTEMPT_COLUMNS} FROM call_attempts WHERE ended_at IS NULL "
            "AND ($1::text IS NULL OR placed_by IS NULL OR placed_by = $1) ORDER BY created_at",
            self.engine,
        )
        return [Attempt(**dict(row)) for row in rows]

    async def take_over(self, engine: str) -> list[Attempt]:
        """`engine`'s calls still open on record, made this engine's (it follows them now);
        of two engines taking over at once, one gets them."""
        if self.engine is None:
            raise ValueError("calls are taken over by an engine, not a tool")
        rows = await self.pool.fetch(
            f"UPDATE call_attempts SET placed_by = $2 WHERE placed_by = $1 AND ended_at IS NULL "
            f"RETURNING {_ATTEMPT_COLUMNS}",
            engine,
            self.engine,
        )
        return sorted((Attempt(**dict(row)) for row in rows), key=lambda a: a.created_at)

    async def hand_to(self, channel_id: str, engine: str, *, by: str | None = None) -> bool:
        """An answered call, open and not yet with an agent, made `engine`'s (it puts the
        person through and writes the call's end) if `by` (this engine, by default) has it.
        False when it is not so on record, and nothing changes."""
        done = await self.pool.execute(
            "UPDATE call_attempts SET placed_by = $2 WHERE channel_id = $1 AND placed_by = $3 "
            "AND answered_at IS NOT NULL AND bridged_at IS NULL AND ended_at IS NULL",
            channel_id,
            engine,
            by or self.engine,
        )
        return done == "UPDATE 1"

    async def handed_fates(self, channel_ids: list[str]) -> dict[str, bool]:
        """Of these calls (persons handed to other engines), those whose fate is on record:
        whether each was abandoned (else he was put through, or hung up first)."""
        rows = await self.pool.fetch(
            "SELECT channel_id, abandoned FROM call_attempts WHERE channel_id = ANY($1::text[]) "
            "AND (abandoned OR bridged_at IS NOT NULL OR ended_at IS NOT NULL)",
            channel_ids,
        )
        return {row["channel_id"]: row["abandoned"] for row in rows}

    async def mark_attempt_bridged(self, channel_id: str, agent_id: int, at: datetime) -> None:
        await self.pool.execute(
            "UPDATE call_attempts SET bridged_at = $3, agent_id = $2 WHERE channel_id = $1",
            channel_id,
            agent_id,
            at,
        )

    async def mark_attempt_abandoned(self, channel_id: str) -> None:
        await self.pool.execute(
            "UPDATE call_attempts SET abandoned = true WHERE channel_id = $1", channel_id
        )

    async def mark_attempt_screened(self, channel_id: str, at: datetime) -> None:
        """A call-screening assistant answered this attempt's identity line."""
        await self.pool.execute(
            "UPDATE call_attempts SET screened_at = $2 WHERE channel_id = $1", channel_id, at
        )

    async def record_message(self, channel_id: str, started: datetime, ended: datetime) -> None:
        """A message was left on the machine that answered this attempt."""
        await self.pool.execute(
            "UPDATE call_attempts SET message_started_at = $2, message_ended_at = $3 "
            "WHERE channel_id = $1",
            channel_id,
            started,
            ended,
        )

    async def record_hand_over(
        self, channel_id: str, from_agent_id: int, to_agent_id: int, at: datetime
    ) -> None:
        """The call went from one agent to another: kept, and the attempt is the taker's."""
        async with self.pool.acquire() as conn, conn.transaction():
            attempt_id = await conn.fetchval(
                "UPDATE call_attempts SET agent_id = $2 WHERE channel_id = $1 RETURNING id",
                channel_id,
                to_agent_id,
            )
            if attempt_id is None:
                return
            await conn.execute(
                "INSERT INTO call_transfers (attempt_id, from_agent_id, to_agent_id, at) "
                "VALUES ($1, $2, $3, $4)",
                attempt_id,
                from_agent_id,
                to_agent_id,
                at,
            )

    async def handed_over(self, channel_id: str, agent_id: int) -> bool:
        """Whether this agent handed this call over to a colleague."""
        return bool(
            await self.pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM call_transfers t JOIN call_attempts c "
                "ON c.id = t.attempt_id WHERE c.channel_id = $1 AND t.from_agent_id = $2)",
                channel_id,
                agent_id,
            )
        )

    async def record_inbound_route(
        self, channel_id: str, route: str, queue_seconds: float | None
    ) -> None:
        await self.pool.execute(
            "UPDATE call_attempts SET route = $2, queue_seconds = $3 WHERE channel_id = $1",
            channel_id,
            route,
            queue_seconds,
        )


_ATTEMPT_COLUMNS = (
    "id, channel_id, direction, case_id, phone_number_id, campaign_id, agent_id, dialled, "
    "caller_id, created_at, originated_at, ringing_at, answered_at, amd_status, amd_cause, "
    "amd_decided_at, bridged_at, ended_at, hangup_cause, hangup_cause_text, outcome, abandoned, "
    "message_started_at, message_ended_at, screened_at, placed_by, lease_token, node"
)
