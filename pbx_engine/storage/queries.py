"""Every query the engine runs, behind one `Storage` object around an asyncpg pool.

Parameters are always bound ($1, $2, ...), never formatted into the SQL text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal

import asyncpg
import structlog

from pbx_engine.config import DatabaseConfig
from pbx_engine.storage.models import Attempt, CaseMatch

log = structlog.get_logger(__name__)

_ATTEMPT_COLUMNS = (
    "id, channel_id, direction, case_id, phone_number_id, campaign_id, agent_id, dialled, "
    "caller_id, created_at, originated_at, ringing_at, answered_at, amd_status, amd_cause, "
    "amd_decided_at, bridged_at, ended_at, hangup_cause, hangup_cause_text, outcome"
)


class StorageUnavailable(Exception):
    pass


class Storage:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    @asynccontextmanager
    async def open(cls, config: DatabaseConfig) -> AsyncIterator[Storage]:
        try:
            pool = await asyncpg.create_pool(
                min_size=config.min_connections,
                max_size=config.max_connections,
                **config.connect_kwargs(),
            )
        except (OSError, asyncpg.PostgresError) as error:
            raise StorageUnavailable(f"cannot connect to PostgreSQL: {error}") from None
        try:
            yield cls(pool)
        finally:
            # close() waits for connections in use; terminate() if that is cut short.
            try:
                await pool.close()
            except BaseException:
                pool.terminate()
                raise

    async def ping(self) -> bool:
        try:
            return await self.pool.fetchval("SELECT true") is True
        except (OSError, asyncpg.PostgresError):
            return False

    # ------------------------------------------------------------ agents, campaigns, cases
    async def upsert_agent(
        self,
        login: str,
        name: str,
        *,
        sip_endpoint: str | None = None,
        role: str = "agent",
        team: str | None = None,
    ) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            team_id = None
            if team is not None:
                team_id = await conn.fetchval(
                    "INSERT INTO teams (name) VALUES ($1) "
                    "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
                    team,
                )
            return await conn.fetchval(
                """INSERT INTO agents (login, name, sip_endpoint, role, team_id)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (login) DO UPDATE SET name = EXCLUDED.name,
                       sip_endpoint = EXCLUDED.sip_endpoint, role = EXCLUDED.role,
                       team_id = EXCLUDED.team_id
                   RETURNING id""",
                login,
                name,
                sip_endpoint,
                role,
                team_id,
            )

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

    async def upsert_case(
        self,
        *,
        creditor: str,
        reference: str,
        debtor_name: str,
        amount_owed: Decimal,
        currency: str,
        numbers: Sequence[tuple[str, str]],
        owner_agent_id: int | None = None,
        campaign_id: int | None = None,
        due_date=None,
        timezone: str | None = None,
        segment: str | None = None,
    ) -> tuple[int, list[int]]:
        """Insert or update a case and its numbers (e164, kind); returns the ids."""
        async with self.pool.acquire() as conn, conn.transaction():
            case_id = await conn.fetchval(
                """INSERT INTO cases (creditor, reference, debtor_name, amount_owed, currency,
                                      due_date, owner_agent_id, timezone, segment, campaign_id)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                   ON CONFLICT (creditor, reference) DO UPDATE SET
                       debtor_name = EXCLUDED.debtor_name, amount_owed = EXCLUDED.amount_owed,
                       currency = EXCLUDED.currency, due_date = EXCLUDED.due_date,
                       owner_agent_id = EXCLUDED.owner_agent_id, timezone = EXCLUDED.timezone,
                       segment = EXCLUDED.segment, campaign_id = EXCLUDED.campaign_id,
                       updated_at = now()
                   RETURNING id""",
                creditor,
                reference,
                debtor_name,
                amount_owed,
                currency,
                due_date,
                owner_agent_id,
                timezone,
                segment,
                campaign_id,
            )
            phone_ids = []
            for position, (e164, kind) in enumerate(numbers):
                phone_ids.append(
                    await conn.fetchval(
                        """INSERT INTO phone_numbers (case_id, e164, kind, position)
                       VALUES ($1, $2, $3, $4)
                       ON CONFLICT (case_id, e164) DO UPDATE SET kind = EXCLUDED.kind,
                           position = EXCLUDED.position
                       RETURNING id""",
                        case_id,
                        e164,
                        kind,
                        position,
                    )
                )
            return case_id, phone_ids

    async def find_case_by_number(self, e164: str) -> CaseMatch | None:
        """The most recently updated case that has this number (a caller's identification)."""
        row = await self.pool.fetchrow(
            """SELECT c.id, c.reference, c.debtor_name, c.owner_agent_id, p.id AS phone_id
               FROM phone_numbers p JOIN cases c ON c.id = p.case_id
               WHERE p.e164 = $1
               ORDER BY c.updated_at DESC LIMIT 1""",
            e164,
        )
        if row is None:
            return None
        return CaseMatch(
            row["id"], row["reference"], row["debtor_name"], row["owner_agent_id"], row["phone_id"]
        )

    # ------------------------------------------------------------ call attempts
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
    ) -> int:
        return await self.pool.fetchval(
            """INSERT INTO call_attempts (channel_id, direction, dialled, caller_id, case_id,
                                          phone_number_id, campaign_id, agent_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
            channel_id,
            direction,
            dialled,
            caller_id,
            case_id,
            phone_number_id,
            campaign_id,
            agent_id,
        )

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
    ) -> bool:
        """Settle an attempt once; a second call (a late duplicate) changes nothing."""
        status = await self.pool.execute(
            """UPDATE call_attempts SET ended_at = $2, hangup_cause = $3,
                   hangup_cause_text = $4, outcome = $5
               WHERE channel_id = $1 AND ended_at IS NULL""",
            channel_id,
            ended_at,
            hangup_cause,
            hangup_cause_text,
            outcome,
        )
        return status.endswith(" 1")

    async def get_attempt(self, channel_id: str) -> Attempt | None:
        row = await self.pool.fetchrow(
            f"SELECT {_ATTEMPT_COLUMNS} FROM call_attempts WHERE channel_id = $1", channel_id
        )
        return Attempt(**dict(row)) if row else None

    async def open_attempts(self) -> list[Attempt]:
        rows = await self.pool.fetch(
            f"SELECT {_ATTEMPT_COLUMNS} FROM call_attempts WHERE ended_at IS NULL "
            "ORDER BY created_at"
        )
        return [Attempt(**dict(row)) for row in rows]
