"""The payment page a debtor's link opens, and the provider's webhook. Public: the signed link
is the permission for the page, the provider's signature for the webhook.

GET  /pay/{token}           the page: what is owed, an amount (the promise due, else the
                            balance), and the provider's card fields
POST /pay/{token}/start     a payment of `{"amount": "80.50"}` started at the provider: the
                            client secret its script finishes the payment with
GET  /pay/{token}/done      back from the provider (`?payment_intent=`): the engine asks the
                            provider how the payment stands and keeps it if it went through
POST /payments/webhook      the provider's signed notice that a payment went through (or not)
"""

from __future__ import annotations

import html

import structlog
from aiohttp import web
from pydantic import Field

from pbx_engine.payments.links import PayLinkError
from pbx_engine.payments.money import AmountError
from pbx_engine.payments.provider import BrowserSide, NoticeRefused, PaymentProviderError
from pbx_engine.payments.service import PaymentService
from pbx_engine.web.common import PAYMENTS, Payload, error_response, html_page, read_body
from pbx_engine.web.security import CONTENT_SECURITY_POLICY

log = structlog.get_logger(__name__)

_UNAVAILABLE = "payments are not set up here"


class StartPayload(Payload):
    amount: str = Field(min_length=1, max_length=20)


def page_policy(browser: BrowserSide) -> str:
    """The house policy, opened only as far as the provider's card fields need: its script,
    its frames, its API."""
    extra = {
        "script-src": browser.script_origins,
        "frame-src": browser.frame_origins,
        "connect-src": browser.connect_origins,
    }
    parts = []
    for directive in CONTENT_SECURITY_POLICY.split("; "):
        name = directive.split(" ", 1)[0]
        if name in extra:
            directive = " ".join([directive, *extra.pop(name)])
        parts.append(directive)
    parts += [" ".join([name, "'self'", *origins]) for name, origins in extra.items()]
    return "; ".join(parts)


def _money(amount, currency: str) -> str:
    return f"{amount} {html.escape(currency)}"


async def pay_page(request: web.Request) -> web.Response:
    service = request.app.get(PAYMENTS)
    if service is None:
        return html_page("Payment", f"<p>{_UNAVAILABLE}.</p>", 404)
    token = request.match_info["token"]
    try:
        case = await service.page(token)
    except PayLinkError as error:
        return html_page("Payment", f"<p>{html.escape(str(error))}.</p>", 403)
    browser = service.provider.browser_side()
    if case.balance <= 0:
        return html_page(
            "Payment", f"<p>Nothing is owed on {html.escape(case.reference)}: thank you.</p>"
        )
    body = (
        f"<p>{html.escape(case.creditor)}, reference <b>{html.escape(case.reference)}</b>: "
        f"{_money(case.balance, case.currency)} to pay.</p>"
        '<form id="pay" class="panel"'
        f' data-token="{html.escape(token)}" data-key="{html.escape(browser.publishable_key)}">'
        f'<label for="amount">Amount ({html.escape(case.currency)})</label>'
        f'<input id="amount" name="amount" inputmode="decimal" required '
        f'value="{html.escape(str(case.suggested))}">'
        '<div id="card"></div>'
        '<p><button type="submit" class="primary">Pay</button> '
        '<span id="message" role="status"></span></p></form>'
        f'<script src="{html.escape(browser.script_url)}"></script>'
        '<script type="module" src="/static/pay.js"></script>'
    )
    response = html_page("Payment", body)
    response.headers["Content-Security-Policy"] = page_policy(browser)
    response.headers["Cache-Control"] = "no-store"
    return response


async def start_payment(request: web.Request) -> web.Response:
    service: PaymentService | None = request.app.get(PAYMENTS)
    if service is None:
        return error_response(404, _UNAVAILABLE)
    payload = await read_body(request, StartPayload)
    if isinstance(payload, web.Response):
        return payload
    try:
        started = await service.start(request.match_info["token"], payload.amount)
    except PayLinkError as error:
        return error_response(403, str(error))
    except AmountError as error:
        return error_response(422, str(error))
    except PaymentProviderError as error:
        log.warning("payment.provider_failed", error=str(error))
        return error_response(502, "the payment service cannot be reached: try again shortly")
    return web.json_response(
        {
            "client_secret": started.checkout.client_secret,
            "amount": str(started.amount),
            "currency": started.currency,
        },
        headers={"Cache-Control": "no-store"},
    )


async def payment_done(request: web.Request) -> web.Response:
    service: PaymentService | None = request.app.get(PAYMENTS)
    if service is None:
        return html_page("Payment", f"<p>{_UNAVAILABLE}.</p>", 404)
    try:
        outcome = await service.returned(
            request.match_info["token"], request.query.get("payment_intent", "")
        )
    except PayLinkError as error:
        return html_page("Payment", f"<p>{html.escape(str(error))}.</p>", 403)
    except PaymentProviderError as error:
        log.warning("payment.provider_failed", error=str(error))
        return html_page(
            "Payment",
            "<p>We could not check your payment just now. If it went through, it will show on "
            "your account shortly; you need not pay again.</p>",
            502,
        )
    payment = outcome.payment
    if payment is None:
        return html_page("Payment", "<p>No payment was found for this link.</p>", 404)
    if not outcome.recorded:
        return html_page(
            "Payment", "<p>Your payment did not go through. Nothing was taken.</p>", 200
        )
    return html_page(
        "Payment received",
        f"<p>Thank you: {_money(payment.amount, payment.currency)} received.</p>",
    )


async def payment_webhook(request: web.Request) -> web.Response:
    service: PaymentService | None = request.app.get(PAYMENTS)
    if service is None:
        return error_response(404, _UNAVAILABLE)
    body = await request.read()
    try:
        payment = await service.notice(body, dict(request.headers))
    except NoticeRefused as error:
        log.warning("payment.notice_refused", reason=str(error))
        return error_response(400, str(error))
    # 200 for anything signed, even an event we do not act on: else the provider retries it.
    return web.json_response({"payment": payment.reference if payment else None})


def add_payment_routes(app: web.Application) -> None:
    app.router.add_get("/pay/{token}", pay_page)
    app.router.add_post("/pay/{token}/start", start_payment)
    app.router.add_get("/pay/{token}/done", payment_done)
    app.router.add_post("/payments/webhook", payment_webhook)
