"""Payment by link against a real provider's API (localstripe, answering as Stripe's API
documents, with its signed webhooks) and a real PostgreSQL, through the engine's own HTTP
handlers: the link in a debtor's e-mail opens his page with the promise due, the payment he
makes at the provider is kept on the case once (the webhook and his return to the page both
report it) and keeps his promise; a declined card, a forged or stale webhook, an altered or
expired link and an amount above the balance keep nothing and say why."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from pbx_engine.config import MessagesConfig, PaymentsConfig, SmtpConfig
from pbx_engine.lab.sandbox.ports import free_port
from pbx_engine.lab.sandbox.smtp import SmtpSandbox
from pbx_engine.lab.sandbox.stripe import DECLINED_CARD, PUBLISHABLE_KEY, SECRET_KEY, StripeSandbox
from pbx_engine.messaging.email import SmtpChannel
from pbx_engine.messaging.service import MessageService
from pbx_engine.messaging.templates import load_templates
from pbx_engine.payments.service import PaymentService
from pbx_engine.payments.stripe import StripePayments
from pbx_engine.storage import Storage
from pbx_engine.web.common import PAYMENTS
from pbx_engine.web.payments_api import add_payment_routes
from tests.integration.faults import now
from tests.waiting import eventually

WEBHOOK_SECRET = "whsec_sandbox_endpoint_secret"
SECRET = b"p" * 32
TEMPLATES = """\
[reminder.en]
email_subject = "Your account {{ reference }}"
email_body = '''
{{ amount_owed | money }} is due. Pay here: {{ pay_link }}'''
"""


@dataclass
class Floor:
    storage: Storage
    stripe: StripeSandbox
    payments: PaymentService
    base_url: str

    def config(self) -> PaymentsConfig:
        return payments_config(self.stripe)


def payments_config(stripe: StripeSandbox) -> PaymentsConfig:
    return PaymentsConfig(
        api_url=stripe.api_url,
        script_url=stripe.script_url,
        secret_key=SECRET_KEY,
        publishable_key=PUBLISHABLE_KEY,
        webhook_secret=WEBHOOK_SECRET,
        timeout=5,
    )


def payment_service(
    storage: Storage, stripe: StripeSandbox, base_url: str, **kwargs
) -> PaymentService:
    return PaymentService(
        storage,
        StripePayments(payments_config(stripe)),
        secret=SECRET,
        public_url=base_url,
        link_days=30,
        zone=ZoneInfo("America/New_York"),
        **kwargs,
    )


@pytest.fixture
async def floor(storage: Storage) -> AsyncIterator[Floor]:
    port = free_port("127.0.0.1")
    base_url = f"http://127.0.0.1:{port}"
    async with StripeSandbox() as stripe:
        await stripe.register_webhook(f"{base_url}/payments/webhook", WEBHOOK_SECRET)
        payments = payment_service(storage, stripe, base_url)
        app = web.Application()
        app[PAYMENTS] = payments
        add_payment_routes(app)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield Floor(storage, stripe, payments, base_url)
        finally:
            await runner.cleanup()


async def a_case_with_a_promise(
    storage: Storage, promised: str | None = "80.00", reference: str = "AB-17"
) -> int:
    case_id, _ = await storage.cases.upsert_case(
        creditor="Acme Bank",
        reference=reference,
        debtor_name="John Doe",
        amount_owed=Decimal("1234.50"),
        currency="USD",
        numbers=[("+12025550142", "mobile")],
        timezone="America/New_York",
    )
    await storage.pool.execute(
        "UPDATE cases SET email = 'john.doe@example.org' WHERE id = $1", case_id
    )
    if promised is not None:
        await storage.pool.execute(
            """INSERT INTO dispositions (case_id, code, promise_amount, promise_date)
               VALUES ($1, 'promise_to_pay', $2, current_date + 1)""",
            case_id,
            Decimal(promised),
        )
    return case_id


async def get(url: str) -> tuple[int, str, aiohttp.typedefs.LooseHeaders]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text(), response.headers


async def post(url: str, body: dict | bytes, headers: dict | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiohttp.ClientSession() as http, http.post(url, data=data, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def payments_of(storage: Storage, case_id: int) -> list[tuple[Decimal, str, str]]:
    rows = await storage.pool.fetch(
        "SELECT amount, provider, provider_ref FROM payments WHERE case_id = $1", case_id
    )
    return [(r["amount"], r["provider"], r["provider_ref"]) for r in rows]


async def test_given_a_promise_when_the_debtor_pays_through_the_link_in_his_email_then_it_is_kept_once_and_keeps_the_promise(  # noqa: E501
    floor: Floor, tmp_path: Path
):
    case_id = await a_case_with_a_promise(floor.storage)
    (tmp_path / "messages.toml").write_text(TEMPLATES, encoding="utf-8")
    async with SmtpSandbox() as smtp:
        messages = MessageService(
            floor.storage,
            MessagesConfig(templates_file=tmp_path / "messages.toml", compliance="plain"),
            load_templates(tmp_path / "messages.toml"),
            email=SmtpChannel(
                SmtpConfig(
                    host=smtp.host,
                    port=smtp.port,
                    sender="accounts@acme.example",
                    ca_file=smtp.certificate,
                    timeout=5,
                )
            ),
            pay_link=floor.payments.link,
        )
        assert (await messages.send(case_id, "reminder", "email")).status == "sent"
        [mail] = smtp.messages()
    [link] = re.findall(r"http://127\.0\.0\.1:\d+/pay/[A-Za-z0-9_.-]+", mail.get_content())
    assert link.startswith(floor.base_url)

    status, page, headers = await get(link)
    assert status == 200
    assert "Acme Bank, reference <b>AB-17</b>: 1234.50 USD to pay." in page
    assert 'value="80.00"' in page  # the promise due, not the whole balance
    assert f'<script src="{floor.stripe.script_url}">' in page
    policy = headers["Content-Security-Policy"]
    assert f"script-src 'self' {floor.stripe.api_url}" in policy
    assert "frame-ancestors 'none'" in policy

    status, started = await post(f"{link}/start", {"amount": "80.00"})
    assert status == 200, started
    intent = await floor.stripe.pay(started["client_secret"])
    assert intent["status"] == "succeeded"

    # The provider's webhook comes (about a second later): the payment is kept.
    async def kept():
        return await payments_of(floor.storage, case_id)

    assert await eventually(kept, timeout=15, what="the webhook's payment") == [
        (Decimal("80.00"), "stripe", intent["id"])
    ]
    # The debtor is back on the page: the engine asks the provider, and keeps it no second time.
    status, done, _ = await get(f"{link}/done?payment_intent={intent['id']}")
    assert (status, "Thank you: 80.00 USD received." in done) == (200, True)
    assert len(await payments_of(floor.storage, case_id)) == 1
    dossier = await floor.storage.cases.case_file(case_id)
    assert dossier is not None
    assert dossier["amount_paid"] == "80.00"


async def test_given_the_debtor_comes_back_before_the_webhook_then_his_return_keeps_it_and_the_webhook_adds_nothing(  # noqa: E501
    floor: Floor,
):
    case_id = await a_case_with_a_promise(floor.storage, promised=None)
    link = floor.payments.link(case_id)
    status, page, _ = await get(link)
    assert 'value="1234.50"' in page  # no promise: the balance
    status, started = await post(f"{link}/start", {"amount": "100,5"})
    assert (status, started["amount"]) == (200, "100.5")
    intent = await floor.stripe.pay(started["client_secret"])

    status, done, _ = await get(f"{link}/done?payment_intent={intent['id']}")
    assert "Thank you: 100.50 USD received." in done
    assert await payments_of(floor.storage, case_id) == [
        (Decimal("100.50"), "stripe", intent["id"])
    ]
    await eventually(
        now(lambda: floor.stripe.webhooks("payment_intent.succeeded")[0] == 1),
        timeout=15,
        what="the webhook to be answered",
    )
    assert len(await payments_of(floor.storage, case_id)) == 1


async def test_given_a_declined_card_then_nothing_is_kept_and_the_page_says_so(floor: Floor):
    case_id = await a_case_with_a_promise(floor.storage)
    link = floor.payments.link(case_id)
    _, started = await post(f"{link}/start", {"amount": "80"})
    intent = await floor.stripe.pay(started["client_secret"], card=DECLINED_CARD)
    assert intent["status"] == "requires_payment_method"

    status, done, _ = await get(f"{link}/done?payment_intent={intent['id']}")
    assert "did not go through" in done
    await eventually(
        now(lambda: floor.stripe.webhooks("payment_intent.payment_failed")[0] == 1),
        timeout=15,
        what="the failure's webhook to be answered",
    )
    assert await payments_of(floor.storage, case_id) == []
    # Another case's link cannot claim this case's payment, nor this one another's.
    other_case = await a_case_with_a_promise(floor.storage, promised=None, reference="AB-18")
    other = floor.payments.link(other_case)
    status, done, _ = await get(f"{other}/done?payment_intent={intent['id']}")
    assert status == 404


async def test_given_a_forged_or_stale_webhook_then_it_is_refused_and_nothing_is_kept(
    floor: Floor,
):
    case_id = await a_case_with_a_promise(floor.storage)
    event = json.dumps(
        {
            "id": "evt_forged",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": "pi_forged",
                    "amount": 8000,
                    "currency": "usd",
                    "status": "succeeded",
                    "metadata": {"case_id": str(case_id)},
                }
            },
        }
    ).encode()
    url = f"{floor.base_url}/payments/webhook"
    status, answer = await post(url, event, {"Stripe-Signature": f"t={int(time.time())},v1=00"})
    assert (status, answer["error"]) == (400, "the signature is not the endpoint secret's")
    status, _ = await post(url, event)
    assert status == 400
    stale = int(time.time()) - 600
    status, answer = await post(url, event, {"Stripe-Signature": signature(event, stale)})
    assert status == 400 and "too far" in answer["error"]
    assert await payments_of(floor.storage, case_id) == []
    # Signed as the provider signs: believed.
    status, _ = await post(url, event, {"Stripe-Signature": signature(event, int(time.time()))})
    assert status == 200
    assert await payments_of(floor.storage, case_id) == [(Decimal("80.00"), "stripe", "pi_forged")]


def signature(body: bytes, at: int) -> str:
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{at}.".encode() + body, hashlib.sha256)
    return f"t={at},v1={mac.hexdigest()}"


async def test_given_a_bad_link_or_amount_or_the_provider_away_then_nothing_starts_and_the_debtor_is_told_why(  # noqa: E501
    floor: Floor,
):
    case_id = await a_case_with_a_promise(floor.storage)
    link = floor.payments.link(case_id)
    token = link.rsplit("/", 1)[1]

    altered = f"{floor.base_url}/pay/{token[:-2]}xx"
    status, page, _ = await get(altered)
    assert (status, "this payment link is not valid" in page) == (403, True)
    made_long_ago = payment_service(
        floor.storage,
        floor.stripe,
        floor.base_url,
        clock=lambda: datetime.now(UTC) - timedelta(days=31),
    )
    status, page, _ = await get(made_long_ago.link(case_id))
    assert (status, "this payment link has expired" in page) == (403, True)
    status, answer = await post(f"{link}/start", {"amount": "1234.51"})
    assert (status, answer["error"]) == (422, "the amount can be at most what is owed, 1234.50 USD")
    status, answer = await post(f"{link}/start", {"amount": "80.001"})
    assert status == 422

    await floor.stripe.stop()
    status, answer = await post(f"{link}/start", {"amount": "80"})
    assert (status, answer["error"]) == (
        502,
        "the payment service cannot be reached: try again shortly",
    )
    assert await payments_of(floor.storage, case_id) == []
