"""The creditors' website widget (README "Website widget"), when [widget] is set:

    GET  /widget/                    the widget: a call back form (?case=LINK identifies the
                                     debtor); the creditors' `sites` may show it in a frame
    POST /widget/callback {number, at?, case?}   a call back request, from the widget only
    POST /widget/call {case?}        "Call us now": a browser phone for the page, which can
                                     only be rung (capped per address like call backs)
    GET  /widget/sip?guest=E         its SIP websocket, carried to the PBX
    POST /widget/call/ring {endpoint}   the engine rings it into the phone menu and the queue,
                                     as an inbound call of the case the link named
    POST /cases/{case_id}/widget-link   (supervisors) a signed link to the widget for a case

The creditor's page includes /static/widget-embed.js, which shows the widget in a frame. The
widget needs no account: what it can do is ask for a call back to a number already on a case,
within caps per address and per number (`pbx_engine.widget.rules`); every request is on record.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import Field

from pbx_engine.agents.browser_phones import is_widget_ticket, ticket_case, widget_ticket
from pbx_engine.ari.errors import AriError, AriUnavailable
from pbx_engine.cases.ids import parse_case_id
from pbx_engine.web.browser_api import STATIC_DIR
from pbx_engine.web.common import (
    Payload,
    audit,
    error_response,
    html_page,
    read_body,
    require_role,
)
from pbx_engine.web.edge import client
from pbx_engine.web.payloads import GuestPayload
from pbx_engine.web.phone_api import BROWSER_PHONES, carry_sip
from pbx_engine.web.security import framed_by, same_site_origin
from pbx_engine.widget.service import WidgetService

WIDGET = web.AppKey("widget", WidgetService)


class WidgetCallbackPayload(Payload):
    number: str = Field(min_length=1, max_length=40)
    at: datetime | None = None  # with its offset (the page sends UTC); none: as soon as we can
    case: str | None = Field(None, max_length=600)  # the page's signed case link


_NO_WIDGET = "this engine has no website widget ([widget] is not set)"


def _not_from_the_widget(request: web.Request) -> web.Response | None:
    """The refusal for a request the widget's own page did not send (None: go on). JSON from
    that page only: another site's form cannot post JSON here, and names itself in Origin when
    its script tries."""
    if WIDGET not in request.app:
        return error_response(404, _NO_WIDGET)
    if not same_site_origin(request.headers.get("Origin"), request.host):
        return error_response(403, "requests come from the widget's own page")
    return None


async def widget_page(request: web.Request) -> web.StreamResponse:
    widget = request.app.get(WIDGET)
    if widget is None:
        return html_page("Not here", f"<p>{_NO_WIDGET}.</p>", 404)
    response = web.FileResponse(STATIC_DIR / "widget.html")
    response.headers["Content-Security-Policy"] = framed_by(widget.sites)
    return response


async def ask_callback(request: web.Request) -> web.Response:
    if refused := _not_from_the_widget(request):
        return refused
    payload = await read_body(request, WidgetCallbackPayload)
    if isinstance(payload, web.Response):
        return payload
    if payload.at is not None and payload.at.tzinfo is None:
        return error_response(422, "at: give the time with its offset (e.g. ...Z)")
    decision = await request.app[WIDGET].ask_callback(  # Refused: 422, 403
        payload.number, payload.at, payload.case, client(request).address
    )
    return web.json_response(
        {"taken": decision.allowed, "message": decision.message}, status=decision.status
    )


class WidgetCallPayload(Payload):
    case: str | None = Field(None, max_length=600)


async def ask_call(request: web.Request) -> web.Response:
    if refused := _not_from_the_widget(request):
        return refused
    payload = await read_body(request, WidgetCallPayload)
    if isinstance(payload, web.Response):
        return payload
    decision, case_id = await request.app[WIDGET].ask_call(  # Refused: 403
        payload.case, client(request).address
    )
    if not decision.allowed:
        return web.json_response({"message": decision.message}, status=decision.status)
    try:
        issued = await request.app[BROWSER_PHONES].issue_guest(widget_ticket(case_id))
    except (AriError, AriUnavailable) as error:
        return error_response(503, f"the PBX did not take this browser: {error}")
    websocket = f"/widget/sip?guest={issued.endpoint}"
    return web.json_response({**issued.as_json(), "websocket": websocket})


def _widget_guest(request: web.Request, endpoint: str) -> str | None:
    """The widget caller's ticket, if `endpoint` is a phone the widget made."""
    ticket = request.app[BROWSER_PHONES].invitation_of(endpoint)
    return ticket if is_widget_ticket(ticket) else None


async def widget_sip(request: web.Request) -> web.StreamResponse:
    guest = request.query.get("guest", "")
    if WIDGET not in request.app or _widget_guest(request, guest) is None:
        return error_response(403, "not a browser the widget made")
    phones = request.app[BROWSER_PHONES]
    try:
        return await carry_sip(request, phones.websocket_url())
    finally:
        await phones.withdraw_guest(guest)


async def ring_widget_caller(request: web.Request) -> web.Response:
    if refused := _not_from_the_widget(request):
        return refused
    payload = await read_body(request, GuestPayload)
    if isinstance(payload, web.Response):
        return payload
    ticket = _widget_guest(request, payload.endpoint)
    if ticket is None:
        return error_response(403, "not a browser the widget made")
    try:
        channel_id = await request.app[BROWSER_PHONES].ring_inbound(
            payload.endpoint, ticket_case(ticket)
        )
    except (AriError, AriUnavailable) as error:
        return error_response(503, f"the call could not be made: {error}")
    return web.json_response({"ringing": channel_id}, status=202)


async def case_link(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    if WIDGET not in request.app:
        return error_response(404, _NO_WIDGET)
    case_id = parse_case_id(request.match_info["case_id"])
    if case_id is None:
        return error_response(404, "no such case")
    url, expires_at = await request.app[WIDGET].link(case_id)  # Refused: 404
    await audit(request, "widget_link", str(case_id))
    return web.json_response({"url": url, "expires_at": expires_at.isoformat()}, status=201)


def add_widget_routes(app: web.Application, widget: WidgetService | None) -> None:
    """Served with or without [widget] (without: 404 saying so)."""
    if widget is not None:
        app[WIDGET] = widget
    app.router.add_get("/widget/", widget_page)
    app.router.add_post("/widget/callback", ask_callback)
    app.router.add_post("/widget/call", ask_call)
    app.router.add_get("/widget/sip", widget_sip)
    app.router.add_post("/widget/call/ring", ring_widget_caller)
    app.router.add_post("/cases/{case_id}/widget-link", case_link)
