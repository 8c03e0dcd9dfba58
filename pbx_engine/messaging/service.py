"""Sending a message to a case's debtor: find where to write, ask the rules, fill the template,
keep the message on record (refused ones too, with the rule), hand it to its channel. And what
comes back: the gateway's delivery reports, and debtors' replies (an opt-out keyword goes into
the consent ledger at once)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from pbx_engine.compliance.policy import public_holiday
from pbx_engine.compliance.profiles import profile
from pbx_engine.compliance.timezones import debtor_zones
from pbx_engine.config import ConfigError, EngineConfig, MessagesConfig
from pbx_engine.lookups.service import NumberLookups, sms_problem
from pbx_engine.messaging.consent import (
    Channel,
    Consent,
    ConsentEntry,
    Source,
    covers,
    reply_consent,
    revoke_all_from,
)
from pbx_engine.messaging.email import EmailNotSent, OutgoingEmail, SmtpChannel
from pbx_engine.messaging.email_replies import EmailReply
from pbx_engine.messaging.rules import MessageAsk, MessageBudget, why_not
from pbx_engine.messaging.sms import (
    KannelSmsChannel,
    OutgoingSms,
    SmsNotSent,
    make_receipt_token,
    read_receipt_token,
    receipt_outcome,
)
from pbx_engine.messaging.surveys import survey_score, unknown_surveys
from pbx_engine.messaging.templates import (
    MessageContext,
    MessageTemplates,
    Rendered,
    load_templates,
)
from pbx_engine.messaging.unsubscribe import make_unsubscribe_token
from pbx_engine.numbers import BadNumber, sms_line_problem, to_e164
from pbx_engine.storage import Storage
from pbx_engine.storage.consent import ConsentRecord
from pbx_engine.storage.messages import (
    Answered,
    MessageCase,
    MessageRow,
    ReplyRow,
    SurveyResult,
)
from pbx_engine.text import is_refused

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


@dataclass(frozen=True)
class ReplyResult:
    reply_id: int
    address: str | None  # the sender as +E.164; None: no phone number
    consent: Consent | None  # what the reply said about consent, if a keyword
    answered: int | None  # the message it answers


class MessageService:
    def __init__(
        self,
        storage: Storage,
        config: MessagesConfig,
        templates: MessageTemplates | None,
        *,
        email: SmtpChannel | None = None,
        sms: KannelSmsChannel | None = None,
        fallback_timezone: str = "UTC",
        default_region: str = "US",
        unsubscribe_link=None,
        pay_link: Callable[[int], str] | None = None,
        secret: bytes = b"",
        lookups: NumberLookups | None = None,
    ) -> None:
        self.secret = secret  # signs unsubscribe links (the engine's [http] secret)
        self._storage = storage
        self._config = config
        self._templates = templates
        self._email = email
        self._sms = sms
        self._fallback_timezone = fallback_timezone
        self._default_region = default_region  # how a reply's number without + is read
        self._revoke_all_from = revoke_all_from(config.revoke_all_from)
        # (case id, address) -> the link that records an opt-out; None: no link in messages.
        self._unsubscribe_link = unsubscribe_link or (lambda case_id, address: "")
        # case id -> the engine's signed payment link ([payments]); else [messages] pay_link.
        self._pay_link = pay_link
        self._lookups = lookups  # a number's look-up before a text goes ([lookup])

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
        problem = sms_line_problem(address) if address and kind is Channel.SMS else None
        if problem is None and address and kind is Channel.SMS and self._lookups is not None:
            problem = sms_problem(await self._lookups.before_contact(address, now))
        ask = MessageAsk(kind, address, case.status, missing, problem)
        consent = await self._storage.consent.entries_for(address) if address else []
        rules = profile(self._config.compliance)
        zones = debtor_zones(case.timezone, case.first_number or "", self._fallback_timezone)
        budget = None
        if self._config.max_per_case is not None:
            period = timedelta(days=self._config.per_days)
            sent = await self._storage.messages.sent_times(case_id, now - period)
            budget = MessageBudget(self._config.max_per_case, period, sent)
        refusal = why_not(
            ask, consent, now, windows=rules.windows, zones=zones,
            closed=public_holiday(rules.holidays), budget=budget,
        )  # fmt: skip
        if refusal is None and kind is Channel.SMS and self._sms is None:
            refusal = "no SMS gateway is configured ([sms])"
        if refusal is None and kind is Channel.SMS and not self.secret:
            # Delivery reports come back by a path signed with it.
            refusal = "SMS needs the [http] secret (its delivery reports are signed with it)"
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
        length = rendered.sms_length
        message_id = await self._storage.messages.record_message(
            case_id=case_id, channel=kind.value, address=address, template=template,
            language=language, subject=rendered.subject, body=rendered.body, status="queued",
            parts=length.parts if length else None,
            encoding=length.encoding.value if length else None, asked_by=asked_by,
        )  # fmt: skip
        try:
            provider_id = await self._hand_over(kind, message_id, address, rendered, context)
        except (EmailNotSent, SmsNotSent) as error:
            await self._storage.messages.mark_failed(message_id, str(error), datetime.now(UTC))
            log.warning("message.failed", template=template, error=str(error))
            return MessageResult(message_id, "failed", str(error))
        await self._storage.messages.mark_sent(message_id, provider_id, datetime.now(UTC))
        log.info("message.sent", template=template, message_id=message_id)
        return MessageResult(message_id, "sent")

    async def _hand_over(
        self,
        kind: Channel,
        message_id: int,
        address: str,
        rendered: Rendered,
        context: MessageContext,
    ) -> str | None:
        """Give the message to its channel; the channel's id for it, if it gives one."""
        if kind is Channel.SMS:
            assert self._sms is not None and rendered.sms_length is not None
            token = make_receipt_token(message_id, self.secret)
            await self._sms.send(
                OutgoingSms(
                    address,
                    rendered.body,
                    rendered.sms_length.encoding,
                    f"{self._sms.callback_url}/sms/receipt/{token}",
                )
            )
            return None  # the gateway reports on it by our id, in the receipt path
        assert self._email is not None
        return await self._email.send(
            OutgoingEmail(
                address,
                rendered.subject or "",
                rendered.body,
                context.unsubscribe_link or None,
            )
        )

    def accepts_inbound(self, token: str) -> bool:
        """Is this the token the gateway's reply URL was given? False without a gateway."""
        return self._sms is not None and self._sms.accepts_inbound(token)

    async def sms_receipt(self, token: str, report: int, answer: str = "") -> bool:
        """A delivery report from the gateway; False when its path is not one we gave out."""
        message_id = read_receipt_token(token, self.secret)
        if message_id is None:
            log.warning("sms.receipt_refused", report=report)
            return False
        outcome = receipt_outcome(report, answer)
        now = datetime.now(UTC)
        if outcome.status == "delivered":
            await self._storage.messages.mark_delivered(message_id, now)
        elif outcome.status == "failed":
            await self._storage.messages.mark_failed(message_id, outcome.error or "", now)
        log.info("sms.receipt", message_id=message_id, report=report, status=outcome.status)
        return True

    async def sms_reply(
        self, sender: str, receiver: str, text: str, *, now: datetime | None = None
    ) -> ReplyResult:
        """A debtor's SMS, as the gateway passed it on: kept with the message it answers; an
        opt-out keyword revokes texts to that number at once (and, from the revoke-all date,
        automated calls too), a keyword asking for them again grants them. A sender that is no
        phone number (a short code, a name) is kept as it came, answering nothing."""
        now = now or datetime.now(UTC)
        try:
            address = to_e164(sender, self._default_region)
        except BadNumber:
            address = None
        answered = (
            await self._storage.messages.latest_to(Channel.SMS.value, address) if address else None
        )
        result = await self._keep_reply(
            Channel.SMS, address, sender, receiver, _plain(text), answered, now
        )
        assert result is not None  # an SMS carries no id of its own to be kept once by
        if address is None:
            log.warning(
                "sms.reply_from_no_number", reply_id=result.reply_id, sender=_plain(sender)[:32]
            )
        return result

    async def email_reply(self, reply: EmailReply, provider_id: str | None) -> ReplyResult | None:
        """A debtor's e-mail, as the centre's mailbox had it: kept with the message it answers
        (the one its In-Reply-To or References names, else the latest e-mail to him); an
        opt-out keyword ("STOP", "Unsubscribe") as the whole reply revokes e-mails to that
        address at once, a keyword asking for them again grants them. An auto-reply (out of
        office, a bounce) is no one's words and is not kept. None when not kept: an auto-reply,
        or one kept already (by its Message-ID)."""
        if reply.auto:
            log.info("email.auto_reply_skipped", sender=_plain(reply.sender)[:254])
            return None
        now = datetime.now(UTC)
        address = reply.sender or None
        answered = await self._storage.messages.answered_by_id(Channel.EMAIL.value, reply.answers)
        if answered is None and address is not None:
            answered = await self._storage.messages.latest_to(Channel.EMAIL.value, address)
        return await self._keep_reply(
            Channel.EMAIL, address, reply.sender, reply.recipient, _plain(reply.text),
            answered, reply.received_at or now, provider_id=provider_id,
        )  # fmt: skip

    async def _keep_reply(
        self,
        channel: Channel,
        address: str | None,
        sender: str,
        receiver: str,
        body: str,
        answered: Answered | None,
        at: datetime,
        *,
        provider_id: str | None = None,
    ) -> ReplyResult | None:
        """Keep a reply, its survey score if it answers a survey, and what it says about
        consent (only from a sender we can name: a number, an address)."""
        said = reply_consent(body) if address else None
        width = 32 if channel is Channel.SMS else 254
        reply_id = await self._storage.messages.record_reply(
            channel=channel.value, address=address or _plain(sender)[:width],
            to_address=_plain(receiver)[:width], body=body, answered=answered,
            consent=said.value if said else None, received_at=at, provider_id=provider_id,
        )  # fmt: skip
        if reply_id is None:
            log.info("reply.kept_already", channel=channel.value, provider_id=provider_id)
            return None
        case_id = answered.case_id if answered else None
        message_id = answered.message_id if answered else None
        score = survey_score(body) if said is None else None
        if answered and answered.template in self._config.survey_templates and score:
            await self._storage.messages.record_survey_answer(reply_id, answered, score, at)
            log.info("survey.answered", message_id=message_id, score=score)
        if address is not None and said is not None:
            channels = (
                covers(channel, at, self._revoke_all_from) if said is Consent.REVOKED else {channel}
            )
            source = Source.SMS_REPLY if channel is Channel.SMS else Source.EMAIL_REPLY
            entry = ConsentEntry(
                address, frozenset(channels), said, source, at,
                note=f"replied {body.strip()[:40]!r}",
            )  # fmt: skip
            await self._storage.consent.add_entry(entry, case_id=case_id, message_id=message_id)
        log.info(
            "reply.kept", channel=channel.value, reply_id=reply_id, case_id=case_id,
            answers=message_id, consent=said.value if said else None,
        )  # fmt: skip
        return ReplyResult(reply_id, address, said, message_id)

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def history(self, case_id: int) -> list[MessageRow]:
        return await self._storage.messages.messages_of_case(case_id)

    async def replies(self, case_id: int) -> list[ReplyRow]:
        return await self._storage.messages.replies_of_case(case_id)

    async def survey_results(self, since: datetime) -> list[SurveyResult]:
        return await self._storage.messages.survey_results(since)

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
            address,
            covers(revoked_by, now, self._revoke_all_from),
            Consent.REVOKED,
            source,
            now,
            note=note,
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
        if self._pay_link is not None:
            pay_link = self._pay_link(case.id)
        else:
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


def _plain(text: str) -> str:
    """`text` with any control character but a line break or a tab shown as U+FFFD: kept, never
    able to end a line where it is shown or written."""
    return "".join("\ufffd" if c not in "\n\t" and is_refused(c) else c for c in text)


def unknown_pay_link_template(config: EngineConfig, names: list[str], where: str) -> str | None:
    """The problem with `[inbound] pay_link_template`: a template `where` lacks, or no [sms]
    to send it by; None when it can be sent (or is not set)."""
    name = config.inbound.pay_link_template
    if name is None:
        return None
    if name not in names:
        return f"[inbound] pay_link_template names {name!r}, which {where} does not have"
    if config.sms is None:
        return "[inbound] pay_link_template needs [sms]: the link goes by text message"
    return None


def build_message_service(
    config: EngineConfig,
    storage: Storage,
    *,
    secret: bytes = b"",
    public_url: str = "",
    pay_link: Callable[[int], str] | None = None,
    lookups: NumberLookups | None = None,
) -> MessageService:
    """The service as [messages], [smtp] and [sms] describe it (templates loaded and checked:
    ConfigError naming the file and line when one is wrong). `secret` signs opt-out links and
    delivery-report paths: the [http] secret unless given. `pay_link`: the engine's payment
    links, when [payments] is set."""
    templates_file = config.messages.templates_file
    templates = load_templates(templates_file) if templates_file is not None else None
    problem = unknown_surveys(
        config.messages.survey_templates,
        templates.names() if templates else [],
        str(templates_file) if templates_file else "no messages file",
    )
    if problem is not None:
        raise ConfigError(problem)
    problem = unknown_pay_link_template(
        config, templates.names() if templates else [], str(templates_file or "no messages file")
    )
    if problem is not None:
        raise ConfigError(problem)
    if not secret and config.http is not None:
        secret = config.http.secret.get_secret_value().encode()
    return MessageService(
        storage,
        config.messages,
        templates,
        email=SmtpChannel(config.smtp) if config.smtp is not None else None,
        sms=KannelSmsChannel(config.sms) if config.sms is not None else None,
        fallback_timezone=config.timezone,
        default_region=config.default_region,
        unsubscribe_link=_unsubscribe_links(public_url, secret),
        pay_link=pay_link,
        secret=secret,
        lookups=lookups,
    )


def _unsubscribe_links(public_url: str, secret: bytes):
    """(case id, address) -> the opt-out link; none without a public address and a secret."""

    def link(case_id: int, address: str) -> str:
        if not public_url or not secret:
            return ""
        token = make_unsubscribe_token(case_id, address, secret)
        return f"{public_url.rstrip('/')}/unsubscribe/{token}"

    return link
