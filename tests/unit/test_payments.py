"""Payment links, amounts in minor units, the provider's webhook signature and the payment
page's content security policy (pure parts of `pbx_engine.payments` and its web page)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.config import ConfigError, parse_config
from pbx_engine.messaging.unsubscribe import make_unsubscribe_token
from pbx_engine.payments.links import PayLink, PayLinkError, make_pay_token, read_pay_token
from pbx_engine.payments.money import (
    AmountError,
    from_minor_units,
    to_minor_units,
    typed_amount,
)
from pbx_engine.payments.provider import BrowserSide, NoticeRefused
from pbx_engine.payments.stripe import check_signature, payment_of, read_event
from pbx_engine.signed_tokens import TokenPurpose, sign_token
from pbx_engine.storage.payments import PayableCase
from pbx_engine.web.payments_api import page_policy
from pbx_engine.web.security import CONTENT_SECURITY_POLICY

SECRET = b"s" * 32
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
ENDPOINT_SECRET = "whsec_test"


# Links ----------------------------------------------------------------------------------------


def test_given_a_link_then_it_reads_back_until_it_expires():
    token = make_pay_token(17, NOW + timedelta(days=30), SECRET)
    assert read_pay_token(token, SECRET, NOW) == PayLink(17, NOW + timedelta(days=30))
    assert read_pay_token(token, SECRET, NOW + timedelta(days=29, hours=23)).case_id == 17
    with pytest.raises(PayLinkError, match="has expired"):
        read_pay_token(token, SECRET, NOW + timedelta(days=30))


def test_given_an_altered_link_or_another_secret_then_it_is_not_valid():
    token = make_pay_token(17, NOW + timedelta(days=1), SECRET)
    payload, _, signature = token.partition(".")
    forged = sign_token(TokenPurpose.PAY_LINK, {"c": 18, "e": 1_900_000_000}, b"x" * 32)
    for bad in (f"{payload}.{signature[:-1]}A", forged):
        with pytest.raises(PayLinkError, match="not valid"):
            read_pay_token(bad, SECRET, NOW)
    with pytest.raises(PayLinkError, match="not valid"):
        read_pay_token(token, b"t" * 32, NOW)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "no-dot",
        make_unsubscribe_token(17, "jane@example.org", SECRET),  # another purpose's token
        sign_token(TokenPurpose.PAY_LINK, {"c": "17", "e": 1_900_000_000}, SECRET),
        sign_token(TokenPurpose.PAY_LINK, {"c": 0, "e": 1_900_000_000}, SECRET),
        sign_token(TokenPurpose.PAY_LINK, {"c": 17}, SECRET),
        sign_token(TokenPurpose.PAY_LINK, {"c": True, "e": 1_900_000_000}, SECRET),
        sign_token(TokenPurpose.PAY_LINK, {"c": 17, "e": 10**20}, SECRET),
    ],
)
def test_given_anything_but_a_payment_link_then_refused_with_a_message(token):
    with pytest.raises(PayLinkError):
        read_pay_token(token, SECRET, NOW)


# Amounts --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "units"),
    [("80.50", "EUR", 8050), ("80", "USD", 8000), ("1234", "JPY", 1234), ("1.234", "KWD", 1234)],
)
def test_given_an_amount_then_its_minor_units_follow_the_currency(amount, currency, units):
    assert to_minor_units(Decimal(amount), currency) == units
    assert from_minor_units(units, currency) == Decimal(amount)


@given(st.integers(min_value=1, max_value=10**12), st.sampled_from(["EUR", "JPY", "KWD", "gbp"]))
def test_given_minor_units_then_they_come_back_the_same(units, currency):
    assert to_minor_units(from_minor_units(units, currency), currency) == units


def test_given_more_decimals_than_the_currency_has_then_refused_not_rounded():
    with pytest.raises(AmountError):
        to_minor_units(Decimal("80.505"), "EUR")
    with pytest.raises(AmountError):
        to_minor_units(Decimal("80.5"), "JPY")


@pytest.mark.parametrize(
    ("typed", "amount"),
    [("80", "80"), ("80.5", "80.5"), (" 80,50 ", "80.50"), ("1234.50", "1234.50")],
)
def test_given_what_a_debtor_types_then_the_amount(typed, amount):
    assert typed_amount(typed, "EUR", Decimal("1234.50")) == Decimal(amount)


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("", "in figures"),
        ("eighty", "in figures"),
        ("1e3", "in figures"),
        ("-5", "in figures"),
        ("80.", "in figures"),
        ("0", "more than zero"),
        ("0.00", "more than zero"),
        ("1234.51", "at most what is owed, 1234.50 EUR"),
        ("80.001", "more decimals"),
        ("NaN", "in figures"),
    ],
)
def test_given_a_wrong_amount_then_the_debtor_is_told_why(typed, why):
    with pytest.raises(AmountError, match=why):
        typed_amount(typed, "EUR", Decimal("1234.50"))


# What the page offers -------------------------------------------------------------------------


def _case(owed="1000", paid="0", promise=None) -> PayableCase:
    return PayableCase(
        1, "Acme", "AB-1", "EUR", Decimal(owed), Decimal(paid),
        Decimal(promise) if promise is not None else None, date(2026, 12, 10),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("owed", "paid", "promise", "suggested"),
    [
        ("1000", "0", None, "1000"),
        ("1000", "200", None, "800"),
        ("1000", "0", "80", "80"),  # the promise due
        ("1000", "0", "0", "1000"),  # the promise already covered: the balance
        ("1000", "0", "-20", "1000"),  # paid more than promised
        ("100", "50", "80", "50"),  # more promised than is left
        ("100", "150", None, "0"),  # overpaid: nothing to pay
    ],
)
def test_given_a_case_then_the_page_offers_the_promise_due_else_the_balance(
    owed, paid, promise, suggested
):
    assert _case(owed, paid, promise).suggested == Decimal(suggested)


# The provider's webhook -----------------------------------------------------------------------


def _signed(body: bytes, at: int, secret: str = ENDPOINT_SECRET) -> str:
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def _event(kind="payment_intent.succeeded", status="succeeded", case_id="17") -> bytes:
    intent = {
        "id": "pi_123",
        "amount": 8050,
        "currency": "eur",
        "status": status,
        "metadata": {"case_id": case_id},
    }
    return json.dumps({"type": kind, "data": {"object": intent}}).encode()


def test_given_a_signed_event_then_its_payment_is_read():
    body, at = _event(), int(NOW.timestamp())
    payment = read_event(body, _signed(body, at), ENDPOINT_SECRET, NOW.timestamp())
    assert payment is not None
    assert (payment.reference, payment.case_id, payment.amount, payment.currency) == (
        "pi_123", 17, Decimal("80.50"), "EUR",
    )  # fmt: skip
    assert payment.succeeded


def test_given_a_header_with_several_signatures_then_one_of_ours_is_enough():
    body, at = _event(), int(NOW.timestamp())
    ours = _signed(body, at).split(",")[1]
    header = f"t={at},v1={'0' * 64},{ours},v0=ignored"
    assert read_event(body, header, ENDPOINT_SECRET, NOW.timestamp()) is not None


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("", "no Stripe-Signature"),
        ("t=abc,v1=00", "no Stripe-Signature"),
        ("v1=00", "no Stripe-Signature"),
        ("t=1700000000", "no Stripe-Signature"),
    ],
)
def test_given_no_usable_signature_then_refused(header, why):
    with pytest.raises(NoticeRefused, match=why):
        check_signature(_event(), header, ENDPOINT_SECRET, NOW.timestamp())


def test_given_another_secret_or_an_altered_body_or_an_old_signature_then_refused():
    body, at = _event(), int(NOW.timestamp())
    with pytest.raises(NoticeRefused, match="not the endpoint secret's"):
        check_signature(body, _signed(body, at, "whsec_other"), ENDPOINT_SECRET, at)
    with pytest.raises(NoticeRefused, match="not the endpoint secret's"):
        check_signature(body + b" ", _signed(body, at), ENDPOINT_SECRET, at)
    with pytest.raises(NoticeRefused, match="too far"):
        check_signature(body, _signed(body, at - 301), ENDPOINT_SECRET, at)
    with pytest.raises(NoticeRefused, match="too far"):
        check_signature(body, _signed(body, at + 301), ENDPOINT_SECRET, at)
    check_signature(body, _signed(body, at - 300), ENDPOINT_SECRET, at)


def test_given_a_signed_event_of_another_kind_or_shape_then_none_or_refused():
    at = int(NOW.timestamp())
    other = _event(kind="customer.created")
    assert read_event(other, _signed(other, at), ENDPOINT_SECRET, at) is None
    odd = b'{"type": "payment_intent.succeeded", "data": {}}'
    with pytest.raises(NoticeRefused, match="shape"):
        read_event(odd, _signed(odd, at), ENDPOINT_SECRET, at)


def test_given_an_intent_then_its_case_and_outcome():
    failed = json.loads(_event(status="requires_payment_method", case_id="x"))["data"]["object"]
    payment = payment_of(failed)
    assert (payment.case_id, payment.succeeded) == (None, False)


# The page's policy ----------------------------------------------------------------------------


def test_given_the_providers_origins_then_the_page_lets_in_those_only():
    policy = page_policy(
        BrowserSide(
            "https://js.stripe.com/v3/",
            "pk_test",
            ("https://js.stripe.com",),
            ("https://js.stripe.com", "https://hooks.stripe.com"),
            ("https://api.stripe.com",),
        )
    )
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["script-src"] == "'self' https://js.stripe.com"
    assert directives["connect-src"] == "'self' https://api.stripe.com"
    assert directives["frame-src"] == "'self' https://js.stripe.com https://hooks.stripe.com"
    # Everything else as on every other page: nobody frames it, no plug-ins, forms post here.
    house = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    for name in ("default-src", "frame-ancestors", "object-src", "form-action", "base-uri"):
        assert directives[name] == house[name]


# The [payments] section ---------------------------------------------------------------------

MINIMAL = {"ari": {"url": "http://127.0.0.1:8088", "username": "engine", "password": "pw"}}


def test_given_payments_with_their_secrets_in_the_environment_then_they_are_used():
    raw = {**MINIMAL, "http": {}, "payments": {"publishable_key": "pk_live_abc"}}
    parsed = parse_config(
        raw,
        environ={
            "PBX_ENGINE_PAYMENTS_SECRET_KEY": "sk_live_from_the_environment",
            "PBX_ENGINE_PAYMENTS_WEBHOOK_SECRET": "whsec_from_the_environment",
        },
    )
    assert parsed.payments is not None
    assert parsed.payments.secret_key.get_secret_value() == "sk_live_from_the_environment"
    assert parsed.payments.webhook_secret.get_secret_value() == "whsec_from_the_environment"
    assert str(parsed.payments.api_url) == "https://api.stripe.com/"


def test_given_payments_without_the_http_server_then_the_config_says_why_it_is_needed():
    raw = {
        **MINIMAL,
        "payments": {"publishable_key": "pk_x", "secret_key": "sk_x", "webhook_secret": "w_x"},
    }
    with pytest.raises(ConfigError, match=r"\[payments\] needs \[http\]: debtors open"):
        parse_config(raw, environ={})


def test_given_only_the_payment_secrets_then_payments_stay_off():
    parsed = parse_config(MINIMAL, environ={"PBX_ENGINE_PAYMENTS_SECRET_KEY": "sk_x"})
    assert parsed.payments is None


def test_given_a_secret_key_where_the_publishable_key_goes_then_refused():
    raw = {
        **MINIMAL,
        "http": {},
        "payments": {"publishable_key": "sk_x", "secret_key": "sk_x", "webhook_secret": "w_x"},
    }
    with pytest.raises(ConfigError, match="publishable_key"):
        parse_config(raw, environ={})
