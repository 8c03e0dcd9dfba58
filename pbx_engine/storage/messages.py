"""Messages to debtors (SMS, e-mail) as they were asked for, sent, refused or failed, and what a
message needs to know of a case."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from pbx_engine.storage.models import JsonRow


@dataclass(frozen=True)
class MessageRow:
    id: int
    case_id: int | None
    channel: str
    address: str
    template: str
    language: str
    subject: str | None
    body: str
    parts: int | None
    encoding: str | None
    status: str
    refused_by: str | None
    provider_id: str | None
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None
    delivered_at: datetime | None

    def as_json(self) -> dict:
        return {
            k: v.isoformat() if isinstance(v, datetime) else v for k, v in self.__dict__.items()
        }


@dataclass(frozen=True)
class ReplyRow(JsonRow):
    """What a debtor sent back, and the message it answers."""

    id: int
    channel: str
    address: str
    to_address: str
    body: str
    message_id: int | None
    case_id: int | None
    consent: str | None  # revoked or granted, when the reply was a keyword
    received_at: datetime


@dataclass(frozen=True)
class Answered:
    """The message a reply answers: the latest one that went to its sender."""

    message_id: int
    case_id: int | None
    template: str = ""


@dataclass(frozen=True)
class SurveyResult(JsonRow):
    """The answers to one survey about one agent's conversations in one campaign."""

    survey: str  # the message template, or call:<question> for the keypad survey's
    agent: str | None  # login; None: no conversation before the survey was found
    campaign: str | None
    answers: int
    average: float


@dataclass(frozen=True)
class MessageCase:
    """A case as a message sees it: who, how much, where to write, in which language."""

    id: int
    creditor: str
    reference: str
    debtor_name: str
    amount_owed: Decimal
    currency: str
    due_date: date | None
    email: str | None
    language: str | None
    timezone: str | None
    status: str
    mobiles: tuple[str, ...]  # the case's mobile numbers, in the order they are tried
    first_number: str | None  # any kind: where the debtor lives, when the case has no zone


_COLUMNS = (
    "id, case_id, channel, address, template, language, subject, body, parts, encoding, "
    "status, refused_by, provider_id, error, created_at, sent_at, failed_at, delivered_at"
)


class MessageStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def message_case(self, case_id: int) -> MessageCase | None:
        row = await self.pool.fetchrow(
            """SELECT c.id, c.creditor, c.reference, c.debtor_name, c.amount_owed, c.currency,
                      c.due_date, c.email, c.language, c.timezone, c.status,
                      coalesce(array_agg(p.e164 ORDER BY p.position, p.id)
                               FILTER (WHERE p.kind = 'mobile' AND NOT p.wrong_party
                                       AND NOT EXISTS (SELECT 1 FROM dead_numbers dn
                                                       WHERE dn.e164 = p.e164)),
                               '{}') AS mobiles,
                      (array_agg(p.e164 ORDER BY p.position, p.id))[1] AS first_number
               FROM cases c LEFT JOIN phone_numbers p ON p.case_id = c.id
               WHERE c.id = $1 GROUP BY c.id""",
            case_id,
        )
        if row is None:
            return None
        return MessageCase(**{**dict(row), "mobiles": tuple(row["mobiles"])})

    async def record_message(
        self,
        *,
        case_id: int | None,
        channel: str,
        address: str,
        template: str,
        language: str,
        body: str,
        status: str,
        subject: str | None = None,
        parts: int | None = None,
        encoding: str | None = None,
        refused_by: str | None = None,
        asked_by: int | None = None,
    ) -> int:
        return await self.pool.fetchval(
            """INSERT INTO messages (case_id, channel, address, template, language, subject,
                                     body, parts, encoding, status, refused_by, asked_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id""",
            case_id,
            channel,
            address,
            template,
            language,
            subject,
            body,
            parts,
            encoding,
            status,
            refused_by,
            asked_by,
        )

    async def mark_sent(self, message_id: int, provider_id: str | None, at: datetime) -> None:
        """The channel took it. A gateway may report delivery before this is written (its report
        comes on another connection): a status it set stays, only the time is added."""
        await self.pool.execute(
            "UPDATE messages SET status = CASE status WHEN 'queued' THEN 'sent' ELSE status END, "
            "provider_id = coalesce(provider_id, $2), sent_at = coalesce(sent_at, $3) "
            "WHERE id = $1 AND status <> 'refused'",
            message_id,
            provider_id,
            at,
        )

    async def mark_delivered(self, message_id: int, at: datetime) -> None:
        """The handset has it (the gateway's report)."""
        await self.pool.execute(
            "UPDATE messages SET status = 'delivered', delivered_at = $2 "
            "WHERE id = $1 AND status IN ('queued', 'sent')",
            message_id,
            at,
        )

    async def mark_failed(self, message_id: int, error: str, at: datetime) -> None:
        await self.pool.execute(
            "UPDATE messages SET status = 'failed', error = $2, failed_at = $3 "
            "WHERE id = $1 AND status IN ('queued', 'sent')",
            message_id,
            error,
            at,
        )

    async def latest_to(self, channel: str, address: str) -> Answered | None:
        """The latest message that went (or was on its way) to `address`: what a reply from
        there answers."""
        row = await self.pool.fetchrow(
            "SELECT id, case_id, template FROM messages WHERE channel = $1 AND address = $2 "
            "AND status <> 'refused' ORDER BY created_at DESC, id DESC LIMIT 1",
            channel,
            address,
        )
        return Answered(row["id"], row["case_id"], row["template"]) if row else None

    async def answered_by_id(self, channel: str, provider_ids: Sequence[str]) -> Answered | None:
        """The message one of `provider_ids` names (the first that is ours), as a reply's
        In-Reply-To and References name what it answers."""
        if not provider_ids:
            return None
        row = await self.pool.fetchrow(
            "SELECT id, case_id, template FROM messages WHERE channel = $1 "
            "AND provider_id = ANY($2) ORDER BY array_position($2, provider_id) LIMIT 1",
            channel,
            list(provider_ids),
        )
        return Answered(row["id"], row["case_id"], row["template"]) if row else None

    async def record_survey_answer(
        self, reply_id: int, answered: Answered, score: int, at: datetime
    ) -> None:
        """A survey's answer, credited to the agent and campaign of the case's last conversation
        before the survey went."""
        await self.pool.execute(
            """INSERT INTO survey_answers (reply_id, message_id, template, case_id, agent_id,
                                           campaign_id, score, answered_at)
               SELECT $1, m.id, m.template, m.case_id, talk.agent_id, talk.campaign_id, $3, $4
               FROM messages m
               LEFT JOIN LATERAL (
                   SELECT a.agent_id, a.campaign_id FROM call_attempts a
                   WHERE a.case_id = m.case_id AND a.bridged_at IS NOT NULL
                     AND a.bridged_at <= m.created_at
                   ORDER BY a.bridged_at DESC LIMIT 1) talk ON true
               WHERE m.id = $2
               ON CONFLICT (reply_id) DO NOTHING""",
            reply_id,
            answered.message_id,
            score,
            at,
        )

    async def survey_results(self, since: datetime) -> list[SurveyResult]:
        """Answers since then, per survey, agent and campaign, most answered first."""
        rows = await self.pool.fetch(
            """SELECT s.template AS survey, g.login AS agent, c.name AS campaign,
                      count(*) AS answers, round(avg(s.score), 2)::float AS average
               FROM survey_answers s LEFT JOIN agents g ON g.id = s.agent_id
               LEFT JOIN campaigns c ON c.id = s.campaign_id
               WHERE s.answered_at >= $1
               GROUP BY s.template, g.login, c.name
               ORDER BY survey, answers DESC, agent NULLS LAST, campaign""",
            since,
        )
        return [SurveyResult(**dict(r)) for r in rows]

    async def record_reply(
        self,
        *,
        channel: str,
        address: str,
        to_address: str,
        body: str,
        answered: Answered | None,
        consent: str | None,
        received_at: datetime,
        provider_id: str | None = None,
    ) -> int | None:
        """Keep the reply, and mark the message it answers `replied`, in one transaction. None
        when a reply with this `provider_id` (an e-mail's Message-ID) was kept already."""
        async with self.pool.acquire() as conn, conn.transaction():
            reply_id = await conn.fetchval(
                """INSERT INTO message_replies (channel, address, to_address, body, message_id,
                                                case_id, consent, received_at, provider_id)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                   ON CONFLICT (channel, provider_id) WHERE provider_id IS NOT NULL DO NOTHING
                   RETURNING id""",
                channel,
                address,
                to_address,
                body,
                answered.message_id if answered else None,
                answered.case_id if answered else None,
                consent,
                received_at,
                provider_id,
            )
            if reply_id is None:
                return None
            if answered is not None:
                await conn.execute(
                    "UPDATE messages SET status = 'replied' WHERE id = $1 "
                    "AND status IN ('queued', 'sent', 'delivered')",
                    answered.message_id,
                )
        return reply_id

    async def replies_of_case(self, case_id: int, limit: int = 100) -> list[ReplyRow]:
        rows = await self.pool.fetch(
            "SELECT id, channel, address, to_address, body, message_id, case_id, consent, "
            "received_at FROM message_replies WHERE case_id = $1 "
            "ORDER BY received_at DESC, id DESC LIMIT $2",
            case_id,
            limit,
        )
        return [ReplyRow(**dict(r)) for r in rows]

    async def messages_of_case(self, case_id: int, limit: int = 100) -> list[MessageRow]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM messages WHERE case_id = $1 "
            "ORDER BY created_at DESC, id DESC LIMIT $2",
            case_id,
            limit,
        )
        return [MessageRow(**dict(r)) for r in rows]

    async def sent_times(self, case_id: int, since: datetime) -> list[datetime]:
        """When the case's messages since then went (or were on their way), on every channel:
        what a contact budget counts. Refused ones never went and do not count."""
        rows = await self.pool.fetch(
            "SELECT created_at FROM messages WHERE case_id = $1 AND created_at > $2 "
            "AND status IN ('queued', 'sent', 'delivered', 'replied') ORDER BY created_at",
            case_id,
            since,
        )
        return [r["created_at"] for r in rows]
