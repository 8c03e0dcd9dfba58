"""Every query the engine runs, behind one `Storage` object around an asyncpg pool.

Parameters are always bound ($1, $2, ...), never formatted into the SQL text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from pbx_engine.cases.dispositions import CaseUpdate, DispositionInput
from pbx_engine.cases.importer import CaseRow, RowError
from pbx_engine.config import DatabaseConfig
from pbx_engine.dialer.schedule import AttemptRecord, CaseCandidate, NumberHistory
from pbx_engine.storage.agent_access import AgentAccess
from pbx_engine.storage.invitations import InvitationStore
from pbx_engine.storage.models import (
    AgentRow,
    Attempt,
    BrowserSession,
    CaseMatch,
    ImportResult,
)
from pbx_engine.storage.outbound import OutboundStore
from pbx_engine.storage.room_pins import RoomPinStore
from pbx_engine.storage.signin import TOKEN_LIFETIME, SignInStore

log = structlog.get_logger(__name__)

_ATTEMPT_COLUMNS = (
    "id, channel_id, direction, case_id, phone_number_id, campaign_id, agent_id, dialled, "
    "caller_id, created_at, originated_at, ringing_at, answered_at, amd_status, amd_cause, "
    "amd_decided_at, bridged_at, ended_at, hangup_cause, hangup_cause_text, outcome, abandoned, "
    "message_started_at, message_ended_at"
)


_AGENT_SELECT_WITH = "SELECT a.id, a.login, a.name, a.sip_endpoint, a.role, t.name AS team"
# A disabled agent is found by no look-up: his token, sessions and sign-in all fail.
_AGENT_FROM = (
    "FROM (SELECT * FROM agents WHERE disabled_at IS NULL) a LEFT JOIN teams t ON t.id = a.team_id"
)
_AGENT_SELECT = f"{_AGENT_SELECT_WITH} {_AGENT_FROM}"


class StorageUnavailable(Exception):
    pass


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _plain(record) -> dict:
    """A row as JSON-ready values."""
    out = {}
    for key, value in dict(record).items():
        if isinstance(value, (datetime, date)):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        out[key] = value
    return out


def _agent_and_extra(row) -> tuple[AgentRow, object] | None:
    """An agent row selected with one more column named `extra`."""
    if row is None:
        return None
    fields = dict(row)
    extra = fields.pop("extra")
    return AgentRow(**fields), extra


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


class Storage:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.signin = SignInStore(pool)
        self.invitations = InvitationStore(pool)
        self.outbound = OutboundStore(pool)
        self.agent_access = AgentAccess(pool)
        self.room_pins = RoomPinStore(pool)

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
                       dial_after = NULL, updated_at = now()
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

    async def find_case_by_number(self, e164: str, did: str | None = None) -> CaseMatch | None:
        """Whose case a caller is about, in one indexed query. Of the cases that have his
        number, the one we last called him about from the `did` he is calling (the number we
        presented) comes first, then the one we last called him about at all, then the most
        recently updated."""
        row = await self.pool.fetchrow(
            """SELECT c.id, c.reference, c.debtor_name, c.owner_agent_id, p.id AS phone_id,
                      presented.at AS presented_at, called.at AS called_at
               FROM phone_numbers p
               JOIN cases c ON c.id = p.case_id
               LEFT JOIN LATERAL (
                   SELECT max(a.created_at) AS at FROM call_attempts a
                   WHERE a.phone_number_id = p.id AND a.caller_id = $2
               ) presented ON $2::text IS NOT NULL
               LEFT JOIN LATERAL (
                   SELECT max(a.created_at) AS at FROM call_attempts a
                   WHERE a.phone_number_id = p.id
               ) called ON true
               WHERE p.e164 = $1
               ORDER BY presented.at DESC NULLS LAST, called.at DESC NULLS LAST,
                        c.updated_at DESC
               LIMIT 1""",
            e164,
            did,
        )
        if row is None:
            return None
        matched_by = (
            "presented" if row["presented_at"] else "called" if row["called_at"] else "number"
        )
        return CaseMatch(
            row["id"],
            row["reference"],
            row["debtor_name"],
            row["owner_agent_id"],
            row["phone_id"],
            matched_by,
        )

    async def import_cases(
        self, rows: Sequence[CaseRow], *, campaign: str | None = None
    ) -> ImportResult:
        """Load checked case rows in bulk (COPY into temporary tables, then set-based upserts):
        new cases are inserted, known ones (same creditor and reference) updated, and a case's
        numbers become exactly those of the file. Rows naming an unknown agent are rejected."""
        async with self.pool.acquire() as conn, conn.transaction():
            campaign_id = None
            if campaign is not None:
                campaign_id = await conn.fetchval(
                    "INSERT INTO campaigns (name) VALUES ($1) ON CONFLICT (name) "
                    "DO UPDATE SET name = EXCLUDED.name RETURNING id",
                    campaign,
                )
            await conn.execute(
                """CREATE TEMP TABLE import_cases (
                       line int, creditor text, reference text, debtor_name text,
                       amount_owed numeric(14, 2), currency char(3), due_date date,
                       owner_login text, timezone text, address text, segment text
                   ) ON COMMIT DROP;
                   CREATE TEMP TABLE import_phones (
                       creditor text, reference text, e164 text, kind text, position smallint
                   ) ON COMMIT DROP"""
            )
            await conn.copy_records_to_table(
                "import_cases",
                records=[
                    (
                        r.line,
                        r.creditor,
                        r.reference,
                        r.debtor_name,
                        r.amount_owed,
                        r.currency,
                        r.due_date,
                        r.owner_agent,
                        r.timezone,
                        r.address,
                        r.segment,
                    )
                    for r in rows
                ],
            )
            await conn.copy_records_to_table(
                "import_phones",
                records=[
                    (r.creditor, r.reference, p.e164, p.kind, i)
                    for r in rows
                    for i, p in enumerate(r.phones)
                ],
            )
            unknown = await conn.fetch(
                """SELECT i.line, i.owner_login FROM import_cases i
                   WHERE i.owner_login IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.login = i.owner_login)
                   ORDER BY i.line"""
            )
            await conn.execute(
                """DELETE FROM import_cases i WHERE i.owner_login IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.login = i.owner_login)"""
            )
            counts = await conn.fetchrow(
                """WITH upserted AS (
                       INSERT INTO cases (creditor, reference, debtor_name, amount_owed,
                                          currency, due_date, owner_agent_id, timezone,
                                          address, segment, campaign_id)
                       SELECT i.creditor, i.reference, i.debtor_name, i.amount_owed,
                              i.currency, i.due_date, a.id, i.timezone, i.address,
                              i.segment, $1
                       FROM import_cases i LEFT JOIN agents a ON a.login = i.owner_login
                       ON CONFLICT (creditor, reference) DO UPDATE SET
                           debtor_name = EXCLUDED.debtor_name,
                           amount_owed = EXCLUDED.amount_owed, currency = EXCLUDED.currency,
                           due_date = EXCLUDED.due_date,
                           owner_agent_id = EXCLUDED.owner_agent_id,
                           timezone = EXCLUDED.timezone, address = EXCLUDED.address,
                           segment = EXCLUDED.segment,
                           campaign_id = coalesce(EXCLUDED.campaign_id, cases.campaign_id),
                           dial_after = NULL, updated_at = now()
                       RETURNING (xmax = 0) AS inserted
                   )
                   SELECT count(*) FILTER (WHERE inserted) AS inserted,
                          count(*) FILTER (WHERE NOT inserted) AS updated
                   FROM upserted""",
                campaign_id,
            )
            # The file is the truth about a case's numbers: drop the ones it no longer lists.
            await conn.execute(
                """DELETE FROM phone_numbers p USING cases c, import_cases i
                   WHERE p.case_id = c.id AND c.creditor = i.creditor
                     AND c.reference = i.reference
                     AND NOT EXISTS (SELECT 1 FROM import_phones n
                                     WHERE n.creditor = c.creditor
                                       AND n.reference = c.reference AND n.e164 = p.e164)"""
            )
            phones = await conn.fetchval(
                """WITH upserted AS (
                       INSERT INTO phone_numbers (case_id, e164, kind, position)
                       SELECT c.id, n.e164, n.kind, n.position
                       FROM import_phones n
                       JOIN import_cases i USING (creditor, reference)
                       JOIN cases c ON c.creditor = n.creditor AND c.reference = n.reference
                       ON CONFLICT (case_id, e164) DO UPDATE SET kind = EXCLUDED.kind,
                           position = EXCLUDED.position
                       RETURNING 1
                   ) SELECT count(*) FROM upserted"""
            )
        return ImportResult(
            inserted=counts["inserted"],
            updated=counts["updated"],
            phone_numbers=phones,
            rejected=[
                RowError(r["line"], f"unknown agent login {r['owner_login']!r}") for r in unknown
            ],
        )

    async def get_agent(self, login: str) -> AgentRow | None:
        row = await self.pool.fetchrow(
            f"{_AGENT_SELECT} WHERE a.login = $1",
            login,
        )
        return AgentRow(**dict(row)) if row else None

    async def agent_by_endpoint(self, sip_endpoint: str) -> AgentRow | None:
        """The agent whose softphone is this PJSIP endpoint (a feature code dialled from it)."""
        row = await self.pool.fetchrow(f"{_AGENT_SELECT} WHERE a.sip_endpoint = $1", sip_endpoint)
        return AgentRow(**dict(row)) if row else None

    async def record_agent_state(
        self,
        agent_id: int,
        state: str,
        at: datetime,
        *,
        reason: str | None = None,
        channel_id: str | None = None,
    ) -> None:
        await self.pool.execute(
            "INSERT INTO agent_state_changes (agent_id, state, reason, channel_id, at) "
            "VALUES ($1, $2, $3, $4, $5)",
            agent_id,
            state,
            reason,
            channel_id,
            at,
        )

    async def agent_states(self, agent_id: int) -> list[tuple[str, str | None]]:
        rows = await self.pool.fetch(
            "SELECT state, reason FROM agent_state_changes WHERE agent_id = $1 ORDER BY id",
            agent_id,
        )
        return [(r["state"], r["reason"]) for r in rows]

    async def mark_attempt_bridged(self, channel_id: str, agent_id: int, at: datetime) -> None:
        await self.pool.execute(
            "UPDATE call_attempts SET bridged_at = $3, agent_id = $2 WHERE channel_id = $1",
            channel_id,
            agent_id,
            at,
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

    async def record_message(self, channel_id: str, started: datetime, ended: datetime) -> None:
        """A message was left on the machine that answered this attempt."""
        await self.pool.execute(
            "UPDATE call_attempts SET message_started_at = $2, message_ended_at = $3 "
            "WHERE channel_id = $1",
            channel_id,
            started,
            ended,
        )

    async def mark_attempt_abandoned(self, channel_id: str) -> None:
        await self.pool.execute(
            "UPDATE call_attempts SET abandoned = true WHERE channel_id = $1", channel_id
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
                      a.created_at, a.ended_at, a.outcome,
                      (a.bridged_at IS NOT NULL) AS conversation, a.abandoned
               FROM picked p
               JOIN phone_numbers n ON n.case_id = p.id AND NOT n.wrong_party
               LEFT JOIN do_not_call d ON d.e164 = n.e164
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

    async def clear_deferrals(self, campaign_id: int) -> None:
        """Forget the planner's marks: the campaign (re)starts, perhaps with other rules."""
        await self.pool.execute(
            "UPDATE cases SET dial_after = NULL WHERE campaign_id = $1 AND dial_after IS NOT NULL",
            campaign_id,
        )

    async def issue_agent_token(
        self, login: str, lifetime: timedelta = TOKEN_LIFETIME
    ) -> str | None:
        """A new API token for the agent (the old one stops working); None: no such agent."""
        issued = await self.signin.issue_token(login, datetime.now(UTC) + lifetime)
        return issued.token if issued else None

    async def agent_by_token(self, token: str) -> AgentRow | None:
        """The token's agent, unless the token has expired (see storage.signin)."""
        return await self.signin.agent_by_token(token, datetime.now(UTC))

    async def record_disposition(
        self,
        channel_id: str,
        agent_id: int | None,
        disposition: DispositionInput,
        update: CaseUpdate,
    ) -> int:
        """Store the disposition of a call and apply its consequences to the case at once."""
        async with self.pool.acquire() as conn, conn.transaction():
            attempt = await conn.fetchrow(
                "SELECT id, case_id, phone_number_id FROM call_attempts WHERE channel_id = $1",
                channel_id,
            )
            if attempt is None or attempt["case_id"] is None:
                raise LookupError(f"no call {channel_id!r} with a case")
            disposition_id = await conn.fetchval(
                """INSERT INTO dispositions (attempt_id, case_id, agent_id, code, promise_amount,
                                            promise_date, callback_at, note)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
                attempt["id"],
                attempt["case_id"],
                agent_id,
                disposition.code.value,
                disposition.promise_amount,
                disposition.promise_date,
                disposition.callback_at,
                disposition.note,
            )
            await conn.execute(
                "UPDATE cases SET status = $2, next_call_at = $3, dial_after = NULL, "
                "updated_at = now() WHERE id = $1",
                attempt["case_id"],
                update.status,
                update.next_call_at,
            )
            if disposition.code == "callback" and disposition.callback_at is not None:
                # The promise is kept by the callback queue: ahead of fresh numbers, to this
                # agent first (or to him only).
                await conn.execute(
                    """INSERT INTO callbacks (case_id, e164, due_at, owner_agent_id,
                                              owner_only, priority, source, channel_id)
                       SELECT $1, a.dialled, $2, $3, $4, 10, 'agent', a.channel_id
                       FROM call_attempts a WHERE a.id = $5""",
                    attempt["case_id"],
                    disposition.callback_at,
                    agent_id,
                    disposition.callback_owner_only,
                    attempt["id"],
                )
            if update.wrong_party and attempt["phone_number_id"] is not None:
                await conn.execute(
                    "UPDATE phone_numbers SET wrong_party = true WHERE id = $1",
                    attempt["phone_number_id"],
                )
            return disposition_id

    async def case_dossier(self, case_id: int) -> dict | None:
        """The case as an agent sees it on the screen pop: debtor, amounts, numbers, history."""
        case = await self.pool.fetchrow(
            """SELECT c.id, c.creditor, c.reference, c.debtor_name, c.amount_owed, c.currency,
                      c.due_date, c.status, c.next_call_at, c.timezone, c.address, c.segment,
                      a.login AS owner, c.campaign_id
               FROM cases c LEFT JOIN agents a ON a.id = c.owner_agent_id WHERE c.id = $1""",
            case_id,
        )
        if case is None:
            return None
        numbers = await self.pool.fetch(
            "SELECT e164, kind, wrong_party FROM phone_numbers WHERE case_id = $1 "
            "ORDER BY position",
            case_id,
        )
        history = await self.pool.fetch(
            """SELECT a.channel_id, a.direction, a.dialled, a.created_at, a.outcome,
                      d.code AS disposition, d.note
               FROM call_attempts a LEFT JOIN dispositions d ON d.attempt_id = a.id
               WHERE a.case_id = $1 ORDER BY a.created_at DESC LIMIT 100""",
            case_id,
        )
        return {
            **_plain(case),
            "numbers": [_plain(n) for n in numbers],
            "history": [_plain(h) for h in history],
        }

    async def abandon_rates(
        self, campaign_id: int, now: datetime, *, amd_false_positive_share: float = 0.0
    ) -> dict[str, dict]:
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
            rates[name] = {
                "abandons": round(abandons, 2) if estimated else row["abandons"],
                "live": round(live, 2) if estimated else row["live"],
                "rate": round(abandons / live, 4) if live else 0.0,
            }
            if estimated:
                rates[name]["estimated_amd_false_positives"] = round(estimated, 2)
        return rates

    async def campaign_report(self, campaign_id: int, since: datetime | None = None) -> dict:
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
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY
                          extract(epoch FROM bridged_at - amd_decided_at)) AS verdict_p50,
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY
                          extract(epoch FROM bridged_at - amd_decided_at)) AS verdict_p99,
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY
                          extract(epoch FROM bridged_at - answered_at)) AS answer_p50,
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY
                          extract(epoch FROM bridged_at - answered_at)) AS answer_p99
               FROM call_attempts
               WHERE campaign_id = $1 AND direction = 'outbound'
                 AND ($2::timestamptz IS NULL OR created_at >= $2)""",
            campaign_id,
            since,
        )

        def ms(seconds: float | None) -> float | None:
            return None if seconds is None else round(seconds * 1000, 1)

        report = {k: row[k] for k in ("attempts", "contacts", "machines", "abandons", "busy")}
        report["no_answer"] = row["no_answer"]
        report["verdict_to_bridge_p50_ms"] = ms(row["verdict_p50"])
        report["verdict_to_bridge_p99_ms"] = ms(row["verdict_p99"])
        report["answer_to_bridge_p50_ms"] = ms(row["answer_p50"])
        report["answer_to_bridge_p99_ms"] = ms(row["answer_p99"])
        return report

    async def promise_totals(self) -> dict:
        """Promises to pay recorded so far: how many, and for how much."""
        row = await self.pool.fetchrow(
            "SELECT count(*) AS n, coalesce(sum(promise_amount), 0) AS amount FROM dispositions "
            "WHERE code = 'promise_to_pay'"
        )
        return {"n": row["n"], "amount": row["amount"]}

    async def agent_state_changes_since(self, since: datetime) -> list:
        """Every agent's state changes since `since`, by agent then time (for occupancy),
        each agent's first being the state he was in at `since` (a shift begun before
        midnight counts from midnight, not from his first change after it)."""
        return await self.pool.fetch(
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

    # ------------------------------------------------------------ inbound and callbacks
    async def case_owner(self, case_id: int) -> tuple[str, str | None] | None:
        """The login and team of the agent who owns the case (None: nobody does)."""
        row = await self.pool.fetchrow(
            "SELECT a.login, t.name AS team FROM cases c "
            "JOIN agents a ON a.id = c.owner_agent_id LEFT JOIN teams t ON t.id = a.team_id "
            "WHERE c.id = $1",
            case_id,
        )
        return (row["login"], row["team"]) if row else None

    async def case_campaign_id(self, case_id: int) -> int | None:
        return await self.pool.fetchval("SELECT campaign_id FROM cases WHERE id = $1", case_id)

    async def case_owner_id(self, case_id: int) -> int | None:
        return await self.pool.fetchval("SELECT owner_agent_id FROM cases WHERE id = $1", case_id)

    async def record_inbound_route(
        self, channel_id: str, route: str, queue_seconds: float | None
    ) -> None:
        await self.pool.execute(
            "UPDATE call_attempts SET route = $2, queue_seconds = $3 WHERE channel_id = $1",
            channel_id,
            route,
            queue_seconds,
        )

    async def create_callback(
        self,
        *,
        e164: str,
        due_at: datetime,
        source: str,
        case_id: int | None = None,
        owner_agent_id: int | None = None,
        owner_only: bool = False,
        priority: int = 0,
        channel_id: str | None = None,
    ) -> int:
        return await self.pool.fetchval(
            """INSERT INTO callbacks (case_id, e164, due_at, owner_agent_id, owner_only,
                                      priority, source, channel_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
            case_id,
            e164,
            due_at,
            owner_agent_id,
            owner_only,
            priority,
            source,
            channel_id,
        )

    async def due_callbacks(self, campaign_id: int, now: datetime, limit: int) -> list[dict]:
        """Pending callbacks of the campaign's open cases that are due, most urgent first,
        with the number to dial and whom they are for."""
        rows = await self.pool.fetch(
            """SELECT cb.id, cb.case_id, cb.e164, cb.owner_only, cb.attempts, cb.priority,
                      p.id AS phone_number_id, p.kind, owner.login AS owner, c.timezone
               FROM callbacks cb
               JOIN cases c ON c.id = cb.case_id AND c.campaign_id = $1
                    AND c.status IN ('open', 'promised')
               LEFT JOIN phone_numbers p ON p.case_id = cb.case_id AND p.e164 = cb.e164
               LEFT JOIN agents owner ON owner.id = cb.owner_agent_id
               WHERE cb.status = 'pending' AND cb.due_at <= $2
               ORDER BY cb.priority DESC, cb.due_at
               LIMIT $3""",
            campaign_id,
            now,
            limit,
        )
        return [dict(r) for r in rows]

    async def callback_dialled(self, callback_id: int, channel_id: str) -> None:
        await self.pool.execute(
            "UPDATE callbacks SET attempts = attempts + 1, channel_id = $2 WHERE id = $1",
            callback_id,
            channel_id,
        )

    async def settle_callback(
        self, callback_id: int, *, reached: bool, retry_at: datetime, max_attempts: int
    ) -> str:
        """After a callback's call: done when the debtor was put through, else due again at
        `retry_at`, or missed once it has been tried `max_attempts` times. Returns the status."""
        return await self.pool.fetchval(
            """UPDATE callbacks SET
                   status = CASE WHEN $2 THEN 'done'
                                 WHEN attempts >= $4 THEN 'missed' ELSE 'pending' END,
                   due_at = CASE WHEN $2 OR attempts >= $4 THEN due_at ELSE $3 END
               WHERE id = $1 RETURNING status""",
            callback_id,
            reached,
            retry_at,
            max_attempts,
        )

    async def defer_callback(self, callback_id: int, until: datetime) -> None:
        await self.pool.execute(
            "UPDATE callbacks SET due_at = $2 WHERE id = $1", callback_id, until
        )

    async def list_callbacks(self, status: str, limit: int = 500) -> list[dict]:
        rows = await self.pool.fetch(
            """SELECT cb.id, cb.case_id, c.reference, cb.e164, cb.due_at, owner.login AS owner,
                      cb.owner_only, cb.priority, cb.source, cb.status, cb.attempts
               FROM callbacks cb LEFT JOIN cases c ON c.id = cb.case_id
               LEFT JOIN agents owner ON owner.id = cb.owner_agent_id
               WHERE cb.status = $1 ORDER BY cb.due_at LIMIT $2""",
            status,
            limit,
        )
        return [
            {k: v.isoformat() if isinstance(v, datetime) else v for k, v in dict(r).items()}
            for r in rows
        ]

    # ------------------------------------------------------------ caller ID
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
               GROUP BY caller_id""",
            numbers,
            day_start,
        )
        return {r["caller_id"]: (r["today"], r["last_used"]) for r in rows}

    async def caller_id_stats(
        self, numbers: list[str], since: datetime
    ) -> dict[str, tuple[int, int]]:
        """Per presented number since `since`: (outbound calls, answered calls)."""
        if not numbers:
            return {}
        rows = await self.pool.fetch(
            """SELECT caller_id, count(*) AS calls,
                      count(*) FILTER (WHERE answered_at IS NOT NULL) AS answered
               FROM call_attempts
               WHERE caller_id = ANY($1) AND created_at >= $2 AND direction = 'outbound'
               GROUP BY caller_id""",
            numbers,
            since,
        )
        return {r["caller_id"]: (r["calls"], r["answered"]) for r in rows}

    async def caller_ids_used_for_case(self, case_id: int, since: datetime) -> dict[str, datetime]:
        """The numbers presented to this case's debtor since `since`, with their last use."""
        rows = await self.pool.fetch(
            """SELECT caller_id, max(created_at) AS last_used FROM call_attempts
               WHERE case_id = $1 AND created_at >= $2 AND caller_id IS NOT NULL
               GROUP BY caller_id""",
            case_id,
            since,
        )
        return {r["caller_id"]: r["last_used"] for r in rows}

    async def add_to_do_not_call(self, e164: str, reason: str = "") -> None:
        await self.pool.execute(
            "INSERT INTO do_not_call (e164, reason) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            e164,
            reason,
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

    # ------------------------------------------------------------------ recordings
    async def add_recording(
        self,
        attempt_id: int,
        name: str,
        leg: str,
        *,
        started_at: datetime,
        delete_after: datetime,
        format: str = "wav",
    ) -> int:
        return await self.pool.fetchval(
            """INSERT INTO recordings (attempt_id, name, leg, format, started_at, delete_after)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
            attempt_id,
            name,
            leg,
            format,
            started_at,
            delete_after,
        )

    async def finish_recording(self, name: str, ended_at: datetime) -> None:
        await self.pool.execute(
            "UPDATE recordings SET ended_at = $2 WHERE name = $1 AND ended_at IS NULL",
            name,
            ended_at,
        )

    async def recordings_of_attempt(self, attempt_id: int) -> list[dict]:
        rows = await self.pool.fetch(
            """SELECT id, name, leg, format, started_at, ended_at, delete_after, deleted_at
               FROM recordings WHERE attempt_id = $1 ORDER BY id""",
            attempt_id,
        )
        return [_plain(r) for r in rows]

    async def recording_pauses(self, attempt_id: int) -> list[dict]:
        rows = await self.pool.fetch(
            """SELECT paused_at, resumed_at, agent_id FROM recording_pauses
               WHERE attempt_id = $1 ORDER BY id""",
            attempt_id,
        )
        return [_plain(r) for r in rows]

    async def record_recording_pause(
        self, attempt_id: int, agent_id: int | None, at: datetime
    ) -> None:
        await self.pool.execute(
            "INSERT INTO recording_pauses (attempt_id, agent_id, paused_at) VALUES ($1, $2, $3)",
            attempt_id,
            agent_id,
            at,
        )

    async def record_recording_resume(self, attempt_id: int, at: datetime) -> None:
        await self.pool.execute(
            """UPDATE recording_pauses SET resumed_at = $2
               WHERE attempt_id = $1 AND resumed_at IS NULL""",
            attempt_id,
            at,
        )

    async def expired_recordings(self, now: datetime, limit: int = 500) -> list[str]:
        """Names of recordings past their retention and not deleted yet, oldest first."""
        rows = await self.pool.fetch(
            """SELECT name FROM recordings WHERE deleted_at IS NULL AND delete_after <= $1
               ORDER BY delete_after LIMIT $2""",
            now,
            limit,
        )
        return [r["name"] for r in rows]

    async def mark_recording_deleted(self, name: str, at: datetime) -> None:
        await self.pool.execute(
            "UPDATE recordings SET deleted_at = $2 WHERE name = $1 AND deleted_at IS NULL",
            name,
            at,
        )

    # ------------------------------------------------------------------ supervision
    async def log_supervision(
        self, supervisor_id: int, agent_id: int, channel_id: str | None, action: str
    ) -> None:
        await self.pool.execute(
            """INSERT INTO supervision_log (supervisor_id, agent_id, channel_id, action)
               VALUES ($1, $2, $3, $4)""",
            supervisor_id,
            agent_id,
            channel_id,
            action,
        )

    async def supervision_log(self, limit: int = 200) -> list[dict]:
        rows = await self.pool.fetch(
            """SELECT s.at, sv.login AS supervisor, a.login AS agent, s.channel_id, s.action
               FROM supervision_log s
               JOIN agents sv ON sv.id = s.supervisor_id JOIN agents a ON a.id = s.agent_id
               ORDER BY s.id DESC LIMIT $1""",
            limit,
        )
        return [_plain(r) for r in rows]

    # ------------------------------------------------------------------ conference rooms
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

    async def stored_rooms(self) -> list[dict]:
        rows = await self.pool.fetch(
            """SELECT name, extension, did, pin, moderator_pin, moderator, max_members, tones
               FROM conference_rooms ORDER BY name"""
        )
        return [dict(r) for r in rows]

    async def delete_room(self, name: str) -> bool:
        status = await self.pool.execute("DELETE FROM conference_rooms WHERE name = $1", name)
        return status.endswith(" 1")

    async def recording_by_name(self, name: str) -> dict | None:
        """A recording with the agent and channel of its attempt (who may hear it)."""
        row = await self.pool.fetchrow(
            """SELECT r.name, r.leg, r.format, r.deleted_at, a.agent_id, a.channel_id
               FROM recordings r JOIN call_attempts a ON a.id = r.attempt_id
               WHERE r.name = $1""",
            name,
        )
        return dict(row) if row else None

    # ------------------------------------------------------------ browsers: sign-in, desk
    async def set_password(self, login: str, password_hash: str) -> bool:
        """Store an agent's password hash; his open browser sessions end. False: no agent."""
        async with self.pool.acquire() as conn, conn.transaction():
            agent_id = await conn.fetchval(
                "UPDATE agents SET password_hash = $2 WHERE login = $1 RETURNING id",
                login,
                password_hash,
            )
            if agent_id is None:
                return False
            await conn.execute("DELETE FROM browser_sessions WHERE agent_id = $1", agent_id)
            return True

    async def change_password(
        self, agent_id: int, password_hash: str, *, keep: str | None
    ) -> list[str]:
        """An agent's new password hash; his browser sessions end but `keep` (the one he
        changed it from). Returns the ended sessions' ids (their sha256)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE agents SET password_hash = $2 WHERE id = $1", agent_id, password_hash
            )
            rows = await conn.fetch(
                "DELETE FROM browser_sessions WHERE agent_id = $1 "
                "AND id_sha256 IS DISTINCT FROM $2 RETURNING id_sha256",
                agent_id,
                keep,
            )
            return [row["id_sha256"] for row in rows]

    async def password_hash(self, login: str) -> tuple[AgentRow, str | None] | None:
        """The agent and his stored password hash (None when he has no password)."""
        row = await self.pool.fetchrow(
            f"{_AGENT_SELECT_WITH}, a.password_hash AS extra {_AGENT_FROM} WHERE a.login = $1",
            login,
        )
        return _agent_and_extra(row)

    async def open_browser_session(
        self, agent_id: int, id_sha256: str, csrf_token: str, expires_at: datetime
    ) -> None:
        await self.pool.execute(
            "INSERT INTO browser_sessions (id_sha256, agent_id, csrf_token, expires_at) "
            "VALUES ($1, $2, $3, $4)",
            id_sha256,
            agent_id,
            csrf_token,
            expires_at,
        )

    async def browser_session(self, id_sha256: str, now: datetime) -> BrowserSession | None:
        """An unexpired session with its agent."""
        row = await self.pool.fetchrow(
            f"{_AGENT_SELECT_WITH}, s.csrf_token, s.expires_at {_AGENT_FROM} "
            "JOIN browser_sessions s ON s.agent_id = a.id "
            "WHERE s.id_sha256 = $1 AND s.expires_at > $2",
            id_sha256,
            now,
        )
        if row is None:
            return None
        fields = dict(row)
        csrf_token, expires_at = fields.pop("csrf_token"), fields.pop("expires_at")
        return BrowserSession(AgentRow(**fields), id_sha256, csrf_token, expires_at)

    async def close_browser_session(self, id_sha256: str) -> None:
        await self.pool.execute("DELETE FROM browser_sessions WHERE id_sha256 = $1", id_sha256)

    async def purge_browser_sessions(self, now: datetime) -> int:
        status = await self.pool.execute("DELETE FROM browser_sessions WHERE expires_at <= $1", now)
        return int(status.rsplit(" ", 1)[-1])

    async def audit_supervisor_action(
        self, supervisor_id: int, action: str, target: str, at: datetime
    ) -> None:
        await self.pool.execute(
            "INSERT INTO supervisor_actions (supervisor_id, action, target, at) "
            "VALUES ($1, $2, $3, $4)",
            supervisor_id,
            action,
            target,
            at,
        )

    async def supervisor_actions(self, limit: int = 200) -> list[dict]:
        rows = await self.pool.fetch(
            """SELECT s.id, a.login AS supervisor, s.action, s.target, s.at
               FROM supervisor_actions s LEFT JOIN agents a ON a.id = s.supervisor_id
               ORDER BY s.at DESC, s.id DESC LIMIT $1""",
            limit,
        )
        return [_plain(r) for r in rows]

    async def record_payment(
        self, case_id: int, amount: Decimal, paid_on: date, reference: str | None = None
    ) -> int | None:
        """A payment the creditor reports on a case; None: no such case."""
        return await self.pool.fetchval(
            "INSERT INTO payments (case_id, amount, paid_on, reference) "
            "SELECT id, $2, $3, $4 FROM cases WHERE id = $1 RETURNING id",
            case_id,
            amount,
            paid_on,
            reference,
        )

    async def screen_pop(self, channel_id: str) -> dict | None:
        """Everything the agent's screen shows for a call, in one query: the call, and its
        case's dossier (debtor, amounts owed and paid, creditors, numbers, promises, every
        earlier contact with its disposition, note and recordings)."""
        value = await self.pool.fetchval(_SCREEN_POP_SQL, channel_id)
        return json.loads(value) if value else None

    async def case_file(self, case_id: int) -> dict | None:
        """The same dossier as the screen pop's, for a case with no call (preview)."""
        value = await self.pool.fetchval(
            f"SELECT {_DOSSIER_JSON} FROM cases c WHERE c.id = $1", case_id
        )
        return json.loads(value) if value else None

    async def callbacks_of(self, agent_id: int, limit: int = 50) -> list[dict]:
        """An agent's pending callbacks, soonest first."""
        rows = await self.pool.fetch(
            """SELECT cb.id, cb.case_id, c.reference, c.debtor_name, c.timezone, cb.e164,
                      cb.due_at, cb.owner_only, cb.source
               FROM callbacks cb LEFT JOIN cases c ON c.id = cb.case_id
               WHERE cb.status = 'pending' AND cb.owner_agent_id = $1
               ORDER BY cb.due_at LIMIT $2""",
            agent_id,
            limit,
        )
        return [_plain(r) for r in rows]

    async def agent_names(self) -> dict[str, str]:
        rows = await self.pool.fetch("SELECT login, name FROM agents")
        return {r["login"]: r["name"] for r in rows}

    async def campaign_day_chart(self, campaign_id: int, since: datetime) -> list[dict]:
        """Per 15 minutes since `since`: attempts, connects (put through) and abandons."""
        rows = await self.pool.fetch(
            """SELECT date_bin('15 minutes', created_at, $2) AS slot,
                      count(*) AS attempts,
                      count(*) FILTER (WHERE bridged_at IS NOT NULL) AS connects,
                      count(*) FILTER (WHERE abandoned) AS abandons
               FROM call_attempts
               WHERE campaign_id = $1 AND direction = 'outbound' AND created_at >= $2
               GROUP BY slot ORDER BY slot""",
            campaign_id,
            since,
        )
        return [_plain(r) for r in rows]

    async def daily_figures(self, since: date, until: date, *, zone: str = "UTC") -> list[dict]:
        """Sums per day (the centre's, in `zone`), campaign and agent (the agent who took the
        call; none for calls nobody took), from `since` to `until` inclusive: what reports are
        made of."""
        where = ZoneInfo(zone)
        start = datetime.combine(since, time(0), tzinfo=where)
        end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=where)
        rows = await self.pool.fetch(_DAILY_FIGURES_SQL, start, end, zone)
        return [dict(r) for r in rows]


# The case dossier as one JSON object, for a case row aliased `c`.
_DOSSIER_JSON = """json_build_object(
    'id', c.id, 'creditor', c.creditor, 'original_creditor', c.original_creditor,
    'reference', c.reference, 'debtor_name', c.debtor_name,
    'amount_owed', c.amount_owed::text, 'currency', c.currency, 'due_date', c.due_date,
    'status', c.status, 'next_call_at', c.next_call_at, 'timezone', c.timezone,
    'address', c.address, 'segment', c.segment, 'campaign_id', c.campaign_id,
    'owner', (SELECT login FROM agents WHERE id = c.owner_agent_id),
    'amount_paid', (SELECT coalesce(sum(amount), 0)::text FROM payments WHERE case_id = c.id),
    'payments', (SELECT coalesce(json_agg(json_build_object(
            'amount', amount::text, 'paid_on', paid_on) ORDER BY paid_on DESC), '[]')
        FROM payments WHERE case_id = c.id),
    'numbers', (SELECT coalesce(json_agg(json_build_object(
            'e164', e164, 'kind', kind, 'wrong_party', wrong_party) ORDER BY position), '[]')
        FROM phone_numbers WHERE case_id = c.id),
    'plan', (SELECT coalesce(json_agg(json_build_object(
            'amount', promise_amount::text, 'date', promise_date, 'made_at', created_at)
            ORDER BY promise_date), '[]')
        FROM dispositions WHERE case_id = c.id AND code = 'promise_to_pay'),
    'history', (SELECT coalesce(json_agg(h ORDER BY h.at DESC), '[]') FROM (
        SELECT a.channel_id, a.direction, a.dialled AS number, a.created_at AS at, a.outcome,
               a.route, g.login AS agent, d.code AS disposition, d.note,
               d.promise_amount::text AS promise_amount, d.promise_date, d.callback_at,
               (SELECT coalesce(json_agg(r.name ORDER BY r.name), '[]') FROM recordings r
                WHERE r.attempt_id = a.id AND r.deleted_at IS NULL) AS recordings
        FROM call_attempts a LEFT JOIN dispositions d ON d.attempt_id = a.id
        LEFT JOIN agents g ON g.id = a.agent_id
        WHERE a.case_id = c.id ORDER BY a.created_at DESC LIMIT 100) h)
)"""

_SCREEN_POP_SQL = f"""
SELECT json_build_object(
    'channel_id', a.channel_id, 'direction', a.direction,
    'number', CASE WHEN a.direction = 'inbound' THEN a.caller_id ELSE a.dialled END,
    'campaign', (SELECT name FROM campaigns WHERE id = a.campaign_id),
    'answered_at', a.answered_at, 'amd_decided_at', a.amd_decided_at,
    'case', CASE WHEN c.id IS NULL THEN NULL ELSE {_DOSSIER_JSON} END)
FROM call_attempts a LEFT JOIN cases c ON c.id = a.case_id
WHERE a.channel_id = $1
"""

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
    WHERE a.created_at >= $1 AND a.created_at < $2
), promises AS (
    SELECT d.attempt_id, d.promise_amount,
           (SELECT coalesce(sum(p.amount), 0) FROM payments p
            WHERE p.case_id = d.case_id AND p.paid_on >= (d.created_at AT TIME ZONE $3)::date
              AND p.paid_on <= d.promise_date + 3) AS paid
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
           count(*) FILTER (WHERE paid >= promise_amount) AS kept
    FROM promises WHERE attempt_id = k.id) pr ON true
LEFT JOIN campaigns cp ON cp.id = k.campaign_id
LEFT JOIN agents g ON g.id = k.agent_id
GROUP BY k.day, k.campaign_id, cp.name, k.agent_id, g.login
ORDER BY k.day, cp.name, g.login
"""
