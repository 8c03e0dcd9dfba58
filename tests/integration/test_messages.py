"""E-mail messages to debtors through a real SMTP server (aiosmtpd, STARTTLS with a certificate
the engine is told to trust) and a real PostgreSQL: the message arrives with the pay link and
the opt-out line, is kept on record with its Message-ID, and once the debtor opts out (or at an
hour the profile forbids, or with the relay gone) the next one is refused or failed on record,
saying why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import SecretStr

from pbx_engine.config import ImapConfig, MessagesConfig, SmtpConfig
from pbx_engine.lab.sandbox.imap import ImapSandbox
from pbx_engine.lab.sandbox.smtp import SmtpSandbox
from pbx_engine.messaging.consent import Channel, Source
from pbx_engine.messaging.email import SmtpChannel
from pbx_engine.messaging.mailbox import MailboxError, ReplyMailbox
from pbx_engine.messaging.service import MessageService
from pbx_engine.messaging.templates import load_templates
from pbx_engine.storage import Storage

TEMPLATES = """\
[reminder.en]
sms = "{{ debtor_name }}, {{ amount_owed | money }} is due. Pay: {{ pay_link }}"
email_subject = "Your account {{ reference }} with {{ creditor }}"
email_body = '''
Dear {{ debtor_name }},

{{ amount_owed | money }} is due on {{ due_date | day }}. Pay here: {{ pay_link }}
Or call us on {{ callback_number }}.

{{ company }}'''

[reminder.fr]
email_subject = "Votre dossier {{ reference }}"
email_body = '''
Bonjour {{ debtor_name }},

{{ amount_owed | money }} restent dus. Payer : {{ pay_link }}'''
"""

# 15:00 in New York, 20:00 UTC: inside the us profile's hours (8 am to 9 pm).
AFTERNOON = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
# 23:30 in New York.
LATE = datetime(2026, 12, 4, 4, 30, tzinfo=UTC)


@pytest.fixture
async def smtp():
    async with SmtpSandbox() as server:
        yield server


def service(
    storage: Storage,
    smtp: SmtpSandbox,
    tmp_path: Path,
    *,
    trusted: bool = True,
    max_per_case: int | None = None,
    compliance: str = "us",
) -> MessageService:
    (tmp_path / "messages.toml").write_text(TEMPLATES, encoding="utf-8")
    config = MessagesConfig(
        templates_file=tmp_path / "messages.toml",
        company="Acme Collections",
        callback_number="+1 202 555 0100",
        pay_link="https://pay.acme.example/{reference}",
        compliance=compliance,
        max_per_case=max_per_case,
    )
    relay = SmtpConfig(
        host=smtp.host,
        port=smtp.port,
        sender="Acme Collections <accounts@acme.example>",
        reply_to="replies@acme.example",
        ca_file=smtp.certificate if trusted else None,
        timeout=5,
    )
    return MessageService(
        storage,
        config,
        load_templates(config.templates_file),
        email=SmtpChannel(relay),
        fallback_timezone="America/New_York",
        unsubscribe_link=lambda case_id, address: f"https://pbx.acme.example/u/{case_id}",
    )


async def a_case(storage: Storage, email: str | None, language: str | None = None) -> int:
    case_id, _ = await storage.cases.upsert_case(
        creditor="Acme Bank",
        reference="AB-17",
        debtor_name="John Doe",
        amount_owed=Decimal("1234.50"),
        currency="USD",
        numbers=[("+12025550142", "mobile")],
        timezone="America/New_York",
    )
    await storage.pool.execute(
        "UPDATE cases SET email = $2, language = $3, due_date = '2026-12-24' WHERE id = $1",
        case_id,
        email,
        language,
    )
    return case_id


async def test_given_a_case_with_an_email_when_a_reminder_is_sent_then_the_relay_has_it_with_the_pay_link_and_opt_out(  # noqa: E501
    storage: Storage, smtp: SmtpSandbox, tmp_path
):
    messages = service(storage, smtp, tmp_path)
    case_id = await a_case(storage, "john.doe@example.org")

    result = await messages.send(case_id, "reminder", "email", now=AFTERNOON)

    assert result.status == "sent", result.reason
    [received] = smtp.messages()
    assert received["To"] == "john.doe@example.org"
    assert received["Subject"] == "Your account AB-17 with Acme Bank"
    assert received["Reply-To"] == "replies@acme.example"
    assert received["List-Unsubscribe"] == f"<https://pbx.acme.example/u/{case_id}>"
    body = received.get_content()
    assert "$1,234.50 is due on December 24, 2026. Pay here: https://pay.acme.example/AB-17" in body
    assert body.rstrip().endswith(
        f"To stop e-mails from us, reply STOP or open https://pbx.acme.example/u/{case_id}"
    )
    [stored] = await storage.messages.messages_of_case(case_id)
    assert (stored.status, stored.provider_id) == ("sent", received["Message-ID"])
    assert stored.body.strip() == body.strip()


async def test_given_a_french_debtor_then_the_french_template_and_opt_out_are_used(
    storage: Storage, smtp: SmtpSandbox, tmp_path
):
    messages = service(storage, smtp, tmp_path)
    case_id = await a_case(storage, "jean@example.fr", language="fr")
    assert (await messages.send(case_id, "reminder", "email", now=AFTERNOON)).status == "sent"
    [received] = smtp.messages()
    assert received["Subject"] == "Votre dossier AB-17"
    body = received.get_content()
    assert "1\u202f234,50\xa0$US restent dus" in body or "1 234,50 $US restent dus" in body
    assert "Pour ne plus recevoir nos e-mails, répondez STOP" in body


async def test_given_the_debtor_opted_out_when_another_email_is_asked_then_it_is_refused_on_record(
    storage: Storage, smtp: SmtpSandbox, tmp_path
):
    messages = service(storage, smtp, tmp_path)
    case_id = await a_case(storage, "john.doe@example.org")
    await messages.revoke(
        "John.Doe@example.org", Channel.EMAIL, Source.UNSUBSCRIBE_LINK, case_id=case_id,
        now=datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
    )  # fmt: skip

    result = await messages.send(case_id, "reminder", "email", now=AFTERNOON)

    assert result.status == "refused"
    assert result.reason == "revoked by unsubscribe_link on 2026-12-02 09:00 UTC"
    assert smtp.messages() == []
    [stored] = await storage.messages.messages_of_case(case_id)
    assert (stored.status, stored.refused_by) == ("refused", result.reason)
    [evidence] = await storage.consent.ledger("john.doe@example.org")
    assert evidence.entry.source is Source.UNSUBSCRIBE_LINK and evidence.case_id == case_id


async def test_given_an_hour_the_profile_forbids_then_the_email_waits_naming_the_next_hour(
    storage: Storage, smtp: SmtpSandbox, tmp_path
):
    messages = service(storage, smtp, tmp_path)
    case_id = await a_case(storage, "john.doe@example.org")
    result = await messages.send(case_id, "reminder", "email", now=LATE)
    assert result.status == "refused"
    assert result.reason == (
        "outside the hours a debtor may be written to (next: 2026-12-04 08:00 EST)"
    )
    assert smtp.messages() == []


async def test_given_no_email_address_or_a_disputed_case_then_nothing_is_sent_and_it_says_why(
    storage: Storage, smtp: SmtpSandbox, tmp_path
):
    messages = service(storage, smtp, tmp_path)
    case_id = await a_case(storage, None)
    result = await messages.send(case_id, "reminder", "email", now=AFTERNOON)
    assert (result.status, result.reason) == ("refused", "the case has no e-mail address")
    await storage.pool.execute(
        "UPDATE cases SET status = 'dispute', email = 'j@example.org' WHERE id = $1", case_id
    )
    result = await messages.send(case_id, "reminder", "email", now=AFTERNOON)
    assert (result.status, result.reason) == ("refused", "the case is disputed: messages stop")
    assert smtp.messages() == []


async def test_given_the_relay_cannot_be_trusted_or_reached_then_the_message_fails_on_record(
    storage: Storage, smtp: SmtpSandbox, tmp_path
):
    case_id = await a_case(storage, "john.doe@example.org")
    untrusting = service(storage, smtp, tmp_path, trusted=False)
    result = await untrusting.send(case_id, "reminder", "email", now=AFTERNOON)
    assert result.status == "failed"
    assert "CERTIFICATE_VERIFY_FAILED" in (result.reason or "")
    later = service(storage, smtp, tmp_path)
    await smtp.stop()  # its port stays in the config: nobody listens there now
    gone = await later.send(case_id, "reminder", "email", now=AFTERNOON)
    assert gone.status == "failed"
    assert f"the mail relay at 127.0.0.1:{smtp.port} could not be used" in (gone.reason or "")
    statuses = [m.status for m in await storage.messages.messages_of_case(case_id)]
    assert statuses == ["failed", "failed"]


async def test_given_a_contact_budget_then_the_message_past_it_is_refused_and_refusals_do_not_count(
    storage: Storage, smtp: SmtpSandbox, tmp_path
):
    # Any hour (the budget counts messages by when they were written, the clock's time).
    messages = service(storage, smtp, tmp_path, max_per_case=2, compliance="plain")
    case_id = await a_case(storage, "john.doe@example.org")
    missing = await messages.send(case_id, "no-such-template", "email")  # refused: not counted
    first = await messages.send(case_id, "reminder", "email")
    second = await messages.send(case_id, "reminder", "email")

    third = await messages.send(case_id, "reminder", "email")

    assert [m.status for m in (missing, first, second, third)] == [
        "refused",
        "sent",
        "sent",
        "refused",
    ]
    assert third.reason is not None
    assert third.reason.startswith("contact budget: 2 message(s) to the case in 7 days already")
    assert len(smtp.messages()) == 2


@pytest.fixture
async def imap():
    async with ImapSandbox() as server:
        yield server


def reply_to(original: EmailMessage, text: str, **headers: str) -> EmailMessage:
    """The debtor's answer to `original`, as his mail program writes it (quoting it below)."""
    reply = EmailMessage()
    reply["From"] = "John Doe <John.Doe@example.org>"
    reply["To"] = "replies@acme.example"
    reply["Subject"] = f"Re: {original['Subject']}"
    reply["Date"] = "Thu, 03 Dec 2026 15:20:00 -0500"
    reply["Message-ID"] = f"<reply-{len(text)}-{abs(hash(text))}@example.org>"
    reply["In-Reply-To"] = original["Message-ID"]
    reply["References"] = original["Message-ID"]
    for name, value in headers.items():
        reply[name.replace("_", "-")] = value
    quoted = "\n".join(f"> {line}" for line in original.get_content().splitlines())
    reply.set_content(f"{text}\n\nOn Thu, Dec 3, 2026, Acme Collections wrote:\n{quoted}\n")
    return reply


def mailbox_of(imap: ImapSandbox, messages: MessageService) -> ReplyMailbox:
    config = ImapConfig(
        host=imap.host,
        port=imap.port,
        username=imap.username,
        password=imap.password,
        ca_file=imap.certificate,
        timeout=5,
    )
    return ReplyMailbox(config, messages)


async def test_given_the_debtor_replies_stop_by_email_then_it_is_kept_with_the_message_and_no_more_emails_go(  # noqa: E501
    storage: Storage, smtp: SmtpSandbox, imap: ImapSandbox, tmp_path
):
    messages = service(storage, smtp, tmp_path)
    case_id = await a_case(storage, "john.doe@example.org")
    assert (await messages.send(case_id, "reminder", "email", now=AFTERNOON)).status == "sent"
    [sent] = smtp.messages()
    reply = reply_to(sent, "STOP")
    await imap.deliver(reply)

    mailbox = mailbox_of(imap, messages)
    assert await mailbox.read_once() == 1
    [kept] = await storage.messages.replies_of_case(case_id)
    [answered] = await storage.messages.messages_of_case(case_id)
    assert (kept.channel, kept.address, kept.body, kept.consent) == (
        "email",
        "john.doe@example.org",
        "STOP",  # his words; the quoted reminder below them left out
        "revoked",
    )
    assert (kept.message_id, answered.status) == (answered.id, "replied")
    [entry] = await storage.consent.entries_for("john.doe@example.org")
    assert (entry.source, entry.channels) == (Source.EMAIL_REPLY, frozenset({Channel.EMAIL}))
    # He wrote at 15:20 in New York (his Date header): from then on, no e-mail goes.
    an_hour_later = AFTERNOON + timedelta(hours=1)
    refused = await messages.send(case_id, "reminder", "email", now=an_hour_later)
    assert refused.status == "refused"
    assert refused.reason == "revoked by email_reply on 2026-12-03 20:20 UTC"

    # Read once: seen now. Delivered a second time (a mail server retrying), it is kept once.
    assert await mailbox.read_once() == 0
    await imap.deliver(reply)
    assert await mailbox.read_once() == 1
    assert len(await storage.messages.replies_of_case(case_id)) == 1


async def test_given_an_out_of_office_answer_then_it_is_not_kept_as_the_debtors_words(
    storage: Storage, smtp: SmtpSandbox, imap: ImapSandbox, tmp_path
):
    messages = service(storage, smtp, tmp_path)
    case_id = await a_case(storage, "john.doe@example.org")
    assert (await messages.send(case_id, "reminder", "email", now=AFTERNOON)).status == "sent"
    [sent] = smtp.messages()
    await imap.deliver(
        reply_to(sent, "I am out of the office until Monday.", Auto_Submitted="auto-replied")
    )
    assert await mailbox_of(imap, messages).read_once() == 1
    assert await storage.messages.replies_of_case(case_id) == []
    [message] = await storage.messages.messages_of_case(case_id)
    assert message.status == "sent"


async def test_given_the_mailbox_refuses_the_login_then_reading_fails_saying_so(
    storage: Storage, smtp: SmtpSandbox, imap: ImapSandbox, tmp_path
):
    config = mailbox_of(imap, service(storage, smtp, tmp_path))._config
    wrong = ReplyMailbox(
        config.model_copy(update={"password": SecretStr("not-it")}),
        service(storage, smtp, tmp_path),
    )
    with pytest.raises(MailboxError, match="login"):
        await wrong.read_once()
