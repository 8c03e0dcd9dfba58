"""Debtors' cases: loading them, finding a caller's, dispositions and payments, and the
dossier an agent sees."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from pbx_engine.cases.dispositions import CaseUpdate, DispositionInput
from pbx_engine.cases.importer import CaseRow, RowError
from pbx_engine.storage.models import CaseMatch, ImportResult, JsonRow, json_ready


@dataclass(frozen=True)
class DossierNumber(JsonRow):
    e164: str
    kind: str
    wrong_party: bool


@dataclass(frozen=True)
class DossierContact(JsonRow):
    """An earlier call about the case, with its disposition."""

    channel_id: str
    direction: str
    dialled: str
    created_at: datetime
    outcome: str
    disposition: str | None
    note: str | None


@dataclass(frozen=True)
class CaseDossier:
    """The case as an agent sees it on the screen pop: debtor, amounts, numbers, history."""

    id: int
    creditor: str
    reference: str
    debtor_name: str
    amount_owed: Decimal
    currency: str
    due_date: date | None
    status: str
    next_call_at: datetime | None
    timezone: str | None
    address: str | None
    segment: str | None
    owner: str | None
    campaign_id: int | None
    numbers: tuple[DossierNumber, ...]
    history: tuple[DossierContact, ...]  # latest first, at most 100

    def as_json(self) -> dict[str, Any]:
        case = {f.name: getattr(self, f.name) for f in fields(self)[:-2]}  # all but the lists
        return {
            **json_ready(case),
            "numbers": [n.as_json() for n in self.numbers],
            "history": [h.as_json() for h in self.history],
        }


class CaseStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

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
                     AND a.outcome <> 'not_placed'  -- he never saw it
               ) presented ON $2::text IS NOT NULL
               LEFT JOIN LATERAL (
                   SELECT max(a.created_at) AS at FROM call_attempts a
                   WHERE a.phone_number_id = p.id AND a.outcome <> 'not_placed'
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
                campaign_id = await _campaign_named(conn, campaign)
            await _stage_import(conn, rows)
            rejected = await _reject_unknown_owners(conn)
            inserted, updated = await _upsert_staged_cases(conn, campaign_id)
            phones = await _replace_staged_numbers(conn)
            invalid = [(r.line, p.e164, p.invalid) for r in rows for p in r.phones if p.invalid]
            await conn.execute(
                """INSERT INTO dead_numbers (e164, reason, since)
                   SELECT e164, reason, now() FROM unnest($1::text[], $2::text[]) AS d(e164, reason)
                   ON CONFLICT (e164) DO NOTHING""",
                [e164 for _, e164, _ in invalid],
                [reason for _, _, reason in invalid],
            )
        return ImportResult(
            inserted=inserted,
            updated=updated,
            phone_numbers=phones,
            rejected=rejected,
            invalid_numbers=invalid,
        )

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

    async def case_dossier(self, case_id: int) -> CaseDossier | None:
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
        return CaseDossier(
            **dict(case),
            numbers=tuple(DossierNumber(**dict(n)) for n in numbers),
            history=tuple(DossierContact(**dict(h)) for h in history),
        )

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

    async def add_to_do_not_call(self, e164: str, reason: str = "") -> None:
        await self.pool.execute(
            "INSERT INTO do_not_call (e164, reason) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            e164,
            reason,
        )


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
    -- Calls, messages and debtors' replies, latest first: `kind` is call, sms or email.
    'history', (SELECT coalesce(json_agg(h ORDER BY h.at DESC), '[]') FROM (
        (SELECT 'call' AS kind, a.channel_id, a.direction, a.dialled AS number,
                a.created_at AS at, a.outcome, a.route, g.login AS agent, d.code AS disposition,
                d.note, d.promise_amount::text AS promise_amount, d.promise_date, d.callback_at,
                (SELECT coalesce(json_agg(r.name ORDER BY r.name), '[]') FROM recordings r
                 WHERE r.attempt_id = a.id AND r.deleted_at IS NULL) AS recordings,
                NULL::text AS text
         FROM call_attempts a LEFT JOIN dispositions d ON d.attempt_id = a.id
         LEFT JOIN agents g ON g.id = a.agent_id
         WHERE a.case_id = c.id ORDER BY a.created_at DESC LIMIT 100)
        UNION ALL
        -- A message's outcome is its status; a refused one's note, the rule; a failed one's,
        -- the channel's words.
        (SELECT m.channel, NULL, 'outbound', m.address, m.created_at, m.status, NULL,
                g.login, NULL, coalesce(m.refused_by, m.error), NULL, NULL, NULL, '[]'::json,
                m.body
         FROM messages m LEFT JOIN agents g ON g.id = m.asked_by
         WHERE m.case_id = c.id ORDER BY m.created_at DESC LIMIT 50)
        UNION ALL
        (SELECT r.channel, NULL, 'inbound', r.address, r.received_at,
                CASE r.consent WHEN 'revoked' THEN 'opted out' WHEN 'granted' THEN 'opted in'
                     ELSE 'replied' END,
                NULL, NULL, NULL, NULL, NULL, NULL, NULL, '[]'::json, r.body
         FROM message_replies r
         WHERE r.case_id = c.id ORDER BY r.received_at DESC LIMIT 50)) h)
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


# The steps of CaseStore.import_cases, each on its transaction's connection.


async def _campaign_named(conn: asyncpg.Connection, name: str) -> int:
    """The id of the campaign called `name`, created if there is none."""
    return await conn.fetchval(
        "INSERT INTO campaigns (name) VALUES ($1) ON CONFLICT (name) "
        "DO UPDATE SET name = EXCLUDED.name RETURNING id",
        name,
    )


async def _stage_import(conn: asyncpg.Connection, rows: Sequence[CaseRow]) -> None:
    """COPY the rows into temporary tables (dropped at commit): cases and their numbers."""
    await conn.execute(
        """CREATE TEMP TABLE import_cases (
               line int, creditor text, reference text, debtor_name text,
               amount_owed numeric(14, 2), currency char(3), due_date date,
               owner_login text, timezone text, address text, segment text, email text,
               language text
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
                r.email,
                r.language,
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


async def _reject_unknown_owners(conn: asyncpg.Connection) -> list[RowError]:
    """Drop the staged cases whose owner is no agent's login, and say which lines they were."""
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
    return [RowError(r["line"], f"unknown agent login {r['owner_login']!r}") for r in unknown]


async def _upsert_staged_cases(
    conn: asyncpg.Connection, campaign_id: int | None
) -> tuple[int, int]:
    """Insert the staged cases, or update those already known; how many of each."""
    counts = await conn.fetchrow(
        """WITH upserted AS (
               INSERT INTO cases (creditor, reference, debtor_name, amount_owed,
                                  currency, due_date, owner_agent_id, timezone,
                                  address, segment, campaign_id, email, language)
               SELECT i.creditor, i.reference, i.debtor_name, i.amount_owed,
                      i.currency, i.due_date, a.id, i.timezone, i.address,
                      i.segment, $1, i.email, i.language
               FROM import_cases i LEFT JOIN agents a ON a.login = i.owner_login
               ON CONFLICT (creditor, reference) DO UPDATE SET
                   debtor_name = EXCLUDED.debtor_name,
                   amount_owed = EXCLUDED.amount_owed, currency = EXCLUDED.currency,
                   due_date = EXCLUDED.due_date,
                   owner_agent_id = EXCLUDED.owner_agent_id,
                   timezone = EXCLUDED.timezone, address = EXCLUDED.address,
                   segment = EXCLUDED.segment,
                   email = EXCLUDED.email, language = EXCLUDED.language,
                   campaign_id = coalesce(EXCLUDED.campaign_id, cases.campaign_id),
                   dial_after = NULL, updated_at = now()
               RETURNING (xmax = 0) AS inserted
           )
           SELECT count(*) FILTER (WHERE inserted) AS inserted,
                  count(*) FILTER (WHERE NOT inserted) AS updated
           FROM upserted""",
        campaign_id,
    )
    return counts["inserted"], counts["updated"]


async def _replace_staged_numbers(conn: asyncpg.Connection) -> int:
    """Make each staged case's numbers exactly those staged; how many were written."""
    # The file is the truth about a case's numbers: drop the ones it no longer lists.
    await conn.execute(
        """DELETE FROM phone_numbers p USING cases c, import_cases i
           WHERE p.case_id = c.id AND c.creditor = i.creditor
             AND c.reference = i.reference
             AND NOT EXISTS (SELECT 1 FROM import_phones n
                             WHERE n.creditor = c.creditor
                               AND n.reference = c.reference AND n.e164 = p.e164)"""
    )
    return await conn.fetchval(
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
