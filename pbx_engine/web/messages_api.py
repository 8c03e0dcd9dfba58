"""The API of messages to debtors and of the consent ledger.

POST /cases/{case_id}/messages     send the case's debtor a message from the templates
                                   (supervisors): sent, refused (with the rule) or failed
GET  /cases/{case_id}/messages     the case's messages, newest first (supervisors)
GET  /cases/{case_id}/replies      what the case's debtor sent back, newest first (supervisors)
GET  /surveys                      survey answers per agent and campaign (supervisors;
                                   `?days=30`: how far back)
POST /consent                      a consent change on record: a written request, a phone
                                   call's "stop texting me" (supervisors; audited)
GET  /consent                      the ledger, oldest first: the evidence (supervisors;
                                   `?address=` for one number or e-mail address)
GET  /unsubscribe/{token}          the page an e-mail's opt-out link opens (public: the
                                   signed token is the permission)
POST /unsubscribe/{token}          the opt-out itself, from that page or a mail program's
                                   one-click List-Unsubscribe (public)
GET  /sms/receipt/{token}          the SMS gateway's delivery report (`?status=&answer=`;
                                   the signed path it was given is the permission)
GET  /sms/inbound                  a debtor's SMS, from the gateway's sms-service
                                   (`?token=&from=&to=&text=`; the token is [sms]'s)
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Literal

import asyncpg
from aiohttp import web
from pydantic import Field, field_validator

from pbx_engine.cases.ids import CASE_ID_MAX, parse_case_id
from pbx_engine.messaging.consent import Channel, Consent, ConsentEntry, Source, normalise_address
from pbx_engine.messaging.service import MessageError, MessageService
from pbx_engine.messaging.unsubscribe import UnsubscribeError, read_unsubscribe_token
from pbx_engine.text import MultiLineText
from pbx_engine.web.common import (
    AGENT,
    MESSAGES,
    Payload,
    audit,
    error_response,
    html_page,
    read_body,
    require_role,
)

TEMPLATE_NAME = r"^[A-Za-z0-9_-]{1,64}$"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class MessagePayload(Payload):
    template: str = Field(pattern=TEMPLATE_NAME)
    channel: Literal["email", "sms"]


class ConsentPayload(Payload):
    address: str = Field(min_length=3, max_length=254, description="+E.164 or an e-mail address")
    channels: list[Literal["call", "sms", "email"]] = Field(min_length=1, max_length=3)
    consent: Literal["revoked", "granted"]
    note: MultiLineText = Field("", max_length=2000)
    case_id: int | None = Field(None, gt=0, le=CASE_ID_MAX)

    @field_validator("address")
    @classmethod
    def _number_or_email(cls, value: str) -> str:
        value = value.strip()
        if not (_E164.match(value) or _EMAIL.match(value)):
            raise ValueError("an +E.164 number or an e-mail address")
        return normalise_address(value)


async def send_message(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    payload = await read_body(request, MessagePayload)
    if isinstance(payload, web.Response):
        return payload
    case_id = parse_case_id(request.match_info["case_id"])
    if case_id is None:
        return error_response(404, "no such case")
    try:
        result = await request.app[MESSAGES].send(
            case_id, payload.template, payload.channel, asked_by=request[AGENT].id
        )
    except MessageError as error:
        return error_response(404, str(error))
    await audit(request, "message", f"case {case_id} {payload.template} {result.status}")
    return web.json_response(result.as_json(), status=201)


async def case_messages(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    case_id = parse_case_id(request.match_info["case_id"])
    if case_id is None:
        return error_response(404, "no such case")
    messages = await request.app[MESSAGES].history(case_id)
    return web.json_response([m.as_json() for m in messages])


async def case_replies(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    case_id = parse_case_id(request.match_info["case_id"])
    if case_id is None:
        return error_response(404, "no such case")
    replies = await request.app[MESSAGES].replies(case_id)
    return web.json_response([r.as_json() for r in replies])


async def survey_results(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    try:
        days = int(request.query.get("days", "30"))
    except ValueError:
        days = 0
    if not 1 <= days <= 3660:
        return error_response(422, "days: a whole number of days, 1 to 3660")
    service: MessageService = request.app[MESSAGES]
    results = await service.survey_results(service.now() - timedelta(days=days))
    return web.json_response({"days": days, "results": [r.as_json() for r in results]})


async def sms_receipt(request: web.Request) -> web.Response:
    try:
        report = int(request.query.get("status", ""))
    except ValueError:
        return error_response(400, "status: the report type (Kannel's %d) is missing")
    service: MessageService = request.app[MESSAGES]
    known = await service.sms_receipt(
        request.match_info["token"], report, request.query.get("answer", "")
    )
    if not known:
        return error_response(403, "not a delivery-report path of ours")
    # 200, not 204: Kannel takes any other answer as a failure and calls again.
    return web.Response(status=200, text="")


async def sms_inbound(request: web.Request) -> web.Response:
    service: MessageService = request.app[MESSAGES]
    if not service.accepts_inbound(request.query.get("token", "")):
        return error_response(403, "wrong or missing token")
    sender, text = request.query.get("from", ""), request.query.get("text")
    if text is None:
        return error_response(400, "text: missing (Kannel's %a)")
    await service.sms_reply(sender, request.query.get("to", ""), text)
    # An empty answer: the gateway sends nothing back to the debtor.
    return web.Response(status=200, text="")


async def add_consent(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    payload = await read_body(request, ConsentPayload)
    if isinstance(payload, web.Response):
        return payload
    service: MessageService = request.app[MESSAGES]
    entry = ConsentEntry(
        payload.address,
        frozenset(Channel(c) for c in payload.channels),
        Consent(payload.consent),
        Source.SUPERVISOR,
        service.now(),
        note=payload.note,
    )
    try:
        entry_id = await service.record_consent(
            entry, case_id=payload.case_id, entered_by=request[AGENT].id
        )
    except asyncpg.ForeignKeyViolationError:
        return error_response(404, "no such case")
    await audit(request, f"consent_{payload.consent}", payload.address)
    return web.json_response({"id": entry_id}, status=201)


async def consent_ledger(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    address = request.query.get("address")
    records = await request.app[MESSAGES].ledger(address)
    return web.json_response([r.as_json() for r in records])


async def unsubscribe_page(request: web.Request) -> web.Response:
    try:
        link = read_unsubscribe_token(request.match_info["token"], request.app[MESSAGES].secret)
    except UnsubscribeError as error:
        return html_page("Unsubscribe", f"<p>{html.escape(str(error))}.</p>", 403)
    return html_page(
        "Unsubscribe",
        f"<p>Stop e-mails to <b>{html.escape(link.address)}</b>?</p>"
        '<form method="post"><button type="submit">Stop these e-mails</button></form>',
    )


async def unsubscribe(request: web.Request) -> web.Response:
    service: MessageService = request.app[MESSAGES]
    try:
        link = read_unsubscribe_token(request.match_info["token"], service.secret)
    except UnsubscribeError as error:
        return html_page("Unsubscribe", f"<p>{html.escape(str(error))}.</p>", 403)
    await service.revoke(link.address, Channel.EMAIL, Source.UNSUBSCRIBE_LINK, case_id=link.case_id)
    return html_page(
        "Unsubscribed",
        f"<p>Done: no more e-mails will be sent to <b>{html.escape(link.address)}</b>.</p>",
    )


def add_message_routes(app: web.Application) -> None:
    app.router.add_post("/cases/{case_id}/messages", send_message)
    app.router.add_get("/cases/{case_id}/messages", case_messages)
    app.router.add_get("/cases/{case_id}/replies", case_replies)
    app.router.add_get("/surveys", survey_results)
    app.router.add_post("/consent", add_consent)
    app.router.add_get("/consent", consent_ledger)
    app.router.add_get("/unsubscribe/{token}", unsubscribe_page)
    app.router.add_post("/unsubscribe/{token}", unsubscribe)
    app.router.add_get("/sms/receipt/{token}", sms_receipt)
    app.router.add_get("/sms/inbound", sms_inbound)
