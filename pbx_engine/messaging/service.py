"""Sending a message to a case's debtor: find where to write, ask the rules, fill the template,
keep the message on record (refused ones too, with the rule), hand it to its channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from pbx_engine.compliance.policy import public_holiday
from pbx_engine.compliance.profiles import profile
from pbx_engine.compliance.timezones import debtor_zones
from pbx_engine.config import EngineConfig, MessagesConfig
from pbx_engine.messaging.consent import Channel, Consent, ConsentEntry, Source, covers
from pbx_engine.messaging.email import EmailNotSent, OutgoingEmail, SmtpChannel
from pbx_engine.messaging.rules import MessageAsk, why_not
from pbx_engine.messaging.templates import MessageContext, MessageTemplates, load_templates
from pbx_engine.messaging.unsubscribe import make_unsubscribe_token
from pbx_engine.storage import Storage
from pbx_engine.storage.consent import ConsentRecord
from pbx_engine.storage.messages import MessageCase, MessageRow

log = structlog.get_logger(__name__)


class MessageError(Exception):
    """A message that cannot even be asked for (no such case, an unknown channel)."""


@dataclass(frozen=True)
class MessageResult:
    message_id: int
    status: str  # sent, refused, failed
    reason: str | None = None  # the rule that refused it, or the channel's error

    def as_json(self) -> dict:
        return {"message_id": self.message_id, "status": self.status, "reason": self.reason}


class MessageService:
    def __init__(
        self,
        storage: Storage,
        config: MessagesConfig,
        templates: MessageTemplates | None,
        *,
        email: SmtpChannel | None = None,
        fallback_timezone: str = "UTC",
        unsubscribe_link=None,
        secret: bytes = b"",
    ) -> None:
        self.secret = secret  # signs unsubscribe links (the engine's [http] secret)
        self._storage = storage
        self._config = config
        self._templates = templates
        self._email = email
        self._fallback_timezone = fallback_timezone
        # (case id, address) -> the link that records an opt-out; None: no link in messages.
        self._unsubscribe_link = unsubscribe_link or (lambda case_id, address: "")

    async def send(
        self,
        case_id: int,
        template: str,
        channel: str,
        *,
        asked_by: int | None = None,
        now: datetime | None = None,
    ) -> MessageResult:
        now = now or datetime.now(UTC)
        try:
            kind = Channel(channel)
        except ValueError:
            raise MessageError(f"no channel {channel!r} (sms or email)") from None
        if kind is Channel.CALL:
            raise MessageError("a call is not a message")
        case = await self._storage.messages.message_case(case_id)
        if case is None:
            raise MessageError(f"no case {case_id}")
        # Bound for this message's log lines only: a strategy round sends many in one task.
        with structlog.contextvars.bound_contextvars(case_id=case_id, channel=kind.value):
            return await self._send(case, template, kind, asked_by, now)

    async def _send(
        self,
        case: MessageCase,
        template: str,
        kind: Channel,
        asked_by: int | None,
        now: datetime,
    ) -> MessageResult:
        case_id = case.id
        address = (
            case.email if kind is Channel.EMAIL else (case.mobiles[0] if case.mobiles else None)
        )
        language = self._language(case, template, kind)
        if self._templates is None:
            missing = "no message templates are configured ([messages] templates_file)"
        elif not self._templates.has(template, kind.value, language):
            missing = f"no {kind.value} template {template!r} in {language!r}"
        else:
            missing = None
        ask = MessageAsk(kind, address, case.status, missing)
        consent = await self._storage.consent.entries_for(address) if address else []
        rules = profile(self._config.compliance)
        zones = debtor_zones(case.timezone, case.first_number or "", self._fallback_timezone)
        refusal = why_not(
            ask, consent, now, windows=rules.windows, zones=zones,
            closed=public_holiday(rules.holidays),
        )  # fmt: skip
        if refusal is None and kind is Channel.SMS:
            refusal = "no SMS gateway is configured"  # the SMPP channel comes next
        if refusal is None and kind is Channel.EMAIL and self._email is None:
            refusal = "no mail relay is configured ([smtp])"
        if refusal is not None:
            message_id = await self._storage.messages.record_message(
                case_id=case_id, channel=kind.value, address=address or "", template=template,
                language=language, body="", status="refused", refused_by=refusal,
                asked_by=asked_by,
            )  # fmt: skip
            log.info("message.refused", template=template, rule=refusal)
            return MessageResult(message_id, "refused", refusal)
        assert self._templates is not None and address is not None
        context = self._context(case, address)
        rendered = self._templates.render(template, kind.value, language, context)
        message_id = await self._storage.messages.record_message(
            case_id=case_id, channel=kind.value, address=address, template=template,
            language=language, subject=rendered.subject, body=rendered.body, status="queued",
            asked_by=asked_by,
        )  # fmt: skip
        assert self._email is not None
        try:
            provider_id = await self._email.send(
                OutgoingEmail(
                    address,
                    rendered.subject or "",
                    rendered.body,
                    context.unsubscribe_link or None,
                )
            )
        except EmailNotSent as error:
            await self._storage.messages.mark_failed(message_id, str(error), datetime.now(UTC))
            log.warning("message.failed", template=template, error=str(error))
            return MessageResult(message_id, "failed", str(error))
        await self._storage.messages.mark_sent(message_id, provider_id, datetime.now(UTC))
        log.info("message.sent", template=template, message_id=message_id)
        return MessageResult(message_id, "sent")

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def history(self, case_id: int) -> list[MessageRow]:
        return await self._storage.messages.messages_of_case(case_id)

    async def record_consent(
        self, entry: ConsentEntry, *, case_id: int | None = None, entered_by: int | None = None
    ) -> int:
        entry_id = await self._storage.consent.add_entry(
            entry, case_id=case_id, entered_by=entered_by
        )
        log.info(
            "consent.recorded",
            consent=entry.consent.value,
            channels=sorted(entry.channels),
            source=entry.source.value,
        )
        return entry_id

    async def ledger(self, address: str | None = None) -> list[ConsentRecord]:
        return await self._storage.consent.ledger(address)

    async def revoke(
        self,
        address: str,
        revoked_by: Channel,
        source: Source,
        *,
        case_id: int | None = None,
        entered_by: int | None = None,
        note: str = "",
        now: datetime | None = None,
    ) -> ConsentEntry:
        """An opt-out, on record at once (and so applied to every later message or call)."""
        now = now or datetime.now(UTC)
        entry = ConsentEntry(
            address, covers(revoked_by, now), Consent.REVOKED, source, now, note=note
        )
        await self.record_consent(entry, case_id=case_id, entered_by=entered_by)
        return entry

    def _language(self, case: MessageCase, template: str, channel: Channel) -> str:
        """The case's language if the template has it, then its bare language (pt for
        pt_BR), then the default."""
        wanted = case.language or self._config.default_language
        if self._templates is None:
            return wanted
        for language in (wanted, wanted.split("_")[0], self._config.default_language):
            if self._templates.has(template, channel.value, language):
                return language
        return wanted

    def _context(self, case: MessageCase, address: str) -> MessageContext:
        pay_link = self._config.pay_link.format(reference=case.reference, case_id=case.id)
        return MessageContext(
            debtor_name=case.debtor_name,
            creditor=case.creditor,
            reference=case.reference,
            amount_owed=case.amount_owed,
            currency=case.currency,
            due_date=case.due_date,
            pay_link=pay_link,
            company=self._config.company,
            callback_number=self._config.callback_number,
            unsubscribe_link=self._unsubscribe_link(case.id, address),
        )


def build_message_service(
    config: EngineConfig, storage: Storage, *, secret: bytes = b"", public_url: str = ""
) -> MessageService:
    """The service as [messages] and [smtp] describe it (templates loaded and checked:
    ConfigError naming the file and line when one is wrong)."""
    templates_file = config.messages.templates_file
    return MessageService(
        storage,
        config.messages,
        load_templates(templates_file) if templates_file is not None else None,
        email=SmtpChannel(config.smtp) if config.smtp is not None else None,
        fallback_timezone=config.timezone,
        unsubscribe_link=_unsubscribe_links(public_url, secret),
        secret=secret,
    )


def _unsubscribe_links(public_url: str, secret: bytes):
    """(case id, address) -> the opt-out link; none without a public address and a secret."""

    def link(case_id: int, address: str) -> str:
        if not public_url or not secret:
            return ""
        token = make_unsubscribe_token(case_id, address, secret)
        return f"{public_url.rstrip('/')}/unsubscribe/{token}"

    return link
