"""The Stripe adapter: PaymentIntents over Stripe's REST API, and its signed webhooks.

The engine creates a PaymentIntent for the amount the debtor chose (its metadata names the case)
and hands the page its client secret; Stripe.js in the debtor's browser takes the card into
Stripe's own fields and confirms the payment with Stripe directly. Stripe then posts
`payment_intent.succeeded` to the engine's webhook, signed with the endpoint's secret
(`Stripe-Signature: t=<unix time>,v1=<HMAC-SHA256 of "<t>.<body>">`); the engine believes only
that, or its own look-up of the intent, never what the browser says.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from decimal import Decimal
from urllib.parse import urlsplit

import aiohttp

from pbx_engine.config import PaymentsConfig
from pbx_engine.payments.money import from_minor_units, to_minor_units
from pbx_engine.payments.provider import (
    BrowserSide,
    Checkout,
    NoticeRefused,
    PaymentProviderError,
    ProviderPayment,
)

# Stripe's own tolerance in its libraries: a notice older than this may be a replay.
SIGNATURE_TOLERANCE = 300.0
INTENT_ID = re.compile(r"^pi_[A-Za-z0-9]{1,200}$")


def check_signature(
    body: bytes, header: str, secret: str, now: float, tolerance: float = SIGNATURE_TOLERANCE
) -> None:
    """NoticeRefused unless `header` (Stripe-Signature) holds a v1 signature of `body` under
    `secret` made within `tolerance` seconds of `now`."""
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not timestamp.isdigit() or not signatures:
        raise NoticeRefused("no Stripe-Signature with a time and a v1 signature")
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    if not any(
        hmac.compare_digest(expected.encode(), s.encode(errors="replace")) for s in signatures
    ):
        raise NoticeRefused("the signature is not the endpoint secret's")
    if abs(now - int(timestamp)) > tolerance:
        raise NoticeRefused(f"signed {now - int(timestamp):.0f} s from now: too far to believe")


def payment_of(intent: dict) -> ProviderPayment:
    """A PaymentIntent object as the payment it stands for."""
    metadata = intent.get("metadata") or {}
    case = str(metadata.get("case_id", ""))
    currency = str(intent["currency"]).upper()
    return ProviderPayment(
        reference=str(intent["id"]),
        case_id=int(case) if case.isdigit() else None,
        amount=from_minor_units(int(intent["amount"]), currency),
        currency=currency,
        succeeded=intent.get("status") == "succeeded",
    )


def read_event(body: bytes, header: str, secret: str, now: float) -> ProviderPayment | None:
    """The payment a webhook event reports (payment_intent.succeeded or .payment_failed); None
    for any other event; NoticeRefused if the signature does not hold."""
    check_signature(body, header, secret, now)
    try:
        event = json.loads(body)
        kind = event["type"]
        if kind not in ("payment_intent.succeeded", "payment_intent.payment_failed"):
            return None
        return payment_of(event["data"]["object"])
    except (ValueError, KeyError, TypeError) as error:
        raise NoticeRefused(f"a signed event that is not Stripe's shape: {error!r}") from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class StripePayments:
    """PaymentProvider for Stripe (or anything answering as Stripe's API documents)."""

    name = "stripe"

    def __init__(self, config: PaymentsConfig) -> None:
        self._api = str(config.api_url).rstrip("/")
        self._key = config.secret_key.get_secret_value()
        self._webhook_secret = config.webhook_secret.get_secret_value()
        self._publishable_key = config.publishable_key
        self._script = str(config.script_url)
        self._timeout = aiohttp.ClientTimeout(total=config.timeout)

    async def _call(self, method: str, path: str, form: dict[str, str] | None = None) -> dict:
        headers = {"Authorization": f"Bearer {self._key}"}
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as http,
                http.request(method, self._api + path, data=form, headers=headers) as response,
            ):
                text = await response.text()
                if response.status >= 400:
                    raise PaymentProviderError(
                        f"Stripe answered {method} {path} with {response.status}: {text[:300]}"
                    )
                return json.loads(text)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise PaymentProviderError(f"Stripe {method} {path}: {error!r}") from None

    async def start(self, case_id: int, amount: Decimal, currency: str, reference: str) -> Checkout:
        intent = await self._call(
            "POST",
            "/v1/payment_intents",
            {
                "amount": str(to_minor_units(amount, currency)),
                "currency": currency.lower(),
                "payment_method_types[]": "card",
                "metadata[case_id]": str(case_id),
                "metadata[reference]": reference,
            },
        )
        return Checkout(str(intent["id"]), str(intent["client_secret"]))

    async def lookup(self, reference: str) -> ProviderPayment | None:
        if not INTENT_ID.match(reference):
            return None
        try:
            return payment_of(await self._call("GET", f"/v1/payment_intents/{reference}"))
        except (KeyError, TypeError, ValueError) as error:
            raise PaymentProviderError(f"Stripe's payment intent {reference}: {error!r}") from None

    def read_notice(
        self, body: bytes, headers: dict[str, str], now: float
    ) -> ProviderPayment | None:
        return read_event(body, headers.get("Stripe-Signature", ""), self._webhook_secret, now)

    def browser_side(self) -> BrowserSide:
        # Stripe.js runs its card fields in frames of js.stripe.com and talks to the API.
        return BrowserSide(
            script_url=self._script,
            publishable_key=self._publishable_key,
            script_origins=(_origin(self._script),),
            frame_origins=(_origin(self._script), "https://hooks.stripe.com"),
            connect_origins=(_origin(self._api),),
        )
