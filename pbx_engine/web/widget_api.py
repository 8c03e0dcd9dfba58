"""The creditors' website widget (README "Website widget"), when [widget] is set:

    GET  /widget/                    the widget: a call back form (?case=LINK identifies the
                                     debtor); the creditors' `sites` may show it in a frame
    POST /widget/callback {number, at?, case?}   a call back request, from the widget only
    POST /cases/{case_id}/widget-link   (supervisors) a signed link to the widget for a case

The creditor's page includes /static/widget-embed.js, which shows the widget in a frame. The
widget needs no account: what it can do is ask for a call back to a number already on a case,
within caps per address and per number (`pbx_engine.widget.rules`); every request is on record.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import Field

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
from pbx_engine.web.security import framed_by, same_site_origin
from pbx_engine.widget.service import WidgetService

WIDGET = web.AppKey("widget", WidgetService)


class WidgetCallbackPayload(Payload):
    number: str = Field(min_length=1, max_length=40)
    at: datetime | None = None  # with its offset (the page sends UTC); none: as soon as we can
    case: str | None = Field(None, max_length=600)  # the page's signed case link


_NO_WIDGET = "this engine has no website widget ([widget] is not set)"


async def widget_page(request: web.Request) -> web.StreamResponse:
    widget = request.app.get(WIDGET)
    if widget is None:
        return html_page("Not here", f"<p>{_NO_WIDGET}.</p>", 404)
    response = web.FileResponse(STATIC_DIR / "widget.html")
    response.headers["Content-Security-Policy"] = framed_by(widget.sites)
    return response


async def ask_callback(request: web.Request) -> web.Response:
    if WIDGET not in request.app:
        return error_response(404, _NO_WIDGET)
    # JSON from the widget's own page only: another site's form cannot post JSON here, and
    # names itself in Origin when its script tries.
    if not same_site_origin(request.headers.get("Origin"), request.host):
        return error_response(403, "requests come from the widget's own page")
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
    app.router.add_post("/cases/{case_id}/widget-link", case_link)
