"""E-mail messages to debtors through a real SMTP server (aiosmtpd, STARTTLS with a certificate
the engine is told to trust) and a real PostgreSQL: the message arrives with the pay link and
the opt-out line, is kept on record with its Message-ID, and once the debtor opts out (or at an
hour the profile forbids, or with the relay gone) the next one is refused or failed on record,
saying why."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pbx_engine.config import MessagesConfig, SmtpConfig
from pbx_engine.lab.sandbox.smtp import SmtpSandbox
from pbx_engine.messaging.consent import Channel, Source
from pbx_engine.messaging.email import SmtpChannel
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
