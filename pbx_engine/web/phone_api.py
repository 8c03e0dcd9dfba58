"""The desk's browser phone: its credentials and its SIP websocket.

    POST   /agents/me/browser-phone   a browser phone for me: endpoint, a new password, the
                                      websocket to register through, ICE servers
    DELETE /agents/me/browser-phone   my browser phone out of Asterisk (and logged out)
    GET    /phone/sip                 websocket (subprotocol `sip`): SIP to and from Asterisk

The browser never reaches Asterisk's HTTP server (ARI lives there): its SIP goes through this
websocket, opened with the desk's signed-in session and closed with it, to the node's
res_pjsip_transport_websocket on the private side. Media goes straight between the browser and
Asterisk, DTLS-SRTP over ICE."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
import structlog
from aiohttp import WSCloseCode, WSMsgType, web
from yarl import URL

from pbx_engine.agents.browser_phones import BrowserPhones
from pbx_engine.agents.states import AgentState
from pbx_engine.ari.errors import AriError, AriUnavailable
from pbx_engine.storage.models import BrowserSession
from pbx_engine.web.browser_api import end_with_session, session_socket
from pbx_engine.web.common import AGENT, AGENTS, SESSION, SIGNIN, error_response
from pbx_engine.web.edge import WEB

log = structlog.get_logger(__name__)

BROWSER_PHONES = web.AppKey("browser_phones", BrowserPhones)
SIP_PATH = "/phone/sip"
# Asterisk's websocket, as res_pjsip_transport_websocket names it.
SIP_SUBPROTOCOL = "sip"


async def issue_browser_phone(request: web.Request) -> web.Response:
    me = request[AGENT]
    try:
        issued = await request.app[BROWSER_PHONES].issue(me.login, me.id)
    except (AriError, AriUnavailable) as error:
        return error_response(503, f"the PBX did not take the browser phone: {error}")
    return web.json_response({**issued.as_json(), "websocket": SIP_PATH})


async def withdraw_browser_phone(request: web.Request) -> web.Response:
    me = request[AGENT]
    phones, agents = request.app[BROWSER_PHONES], request.app[AGENTS]
    endpoint = phones.endpoint_of(me.login)
    status = agents.status(me.login)
    on_it = endpoint is not None and agents.endpoint_of(me.login) == endpoint
    if on_it and status is not None and status.state is not AgentState.LOGGED_OUT:
        await agents.logout(me.login)  # his shift leg was this phone
    await phones.withdraw(me.login)
    return web.json_response({"withdrawn": endpoint})


async def sip_websocket(request: web.Request) -> web.StreamResponse:
    me = request[AGENT]
    phones = request.app[BROWSER_PHONES]
    if phones.endpoint_of(me.login) is None:
        return error_response(409, "no browser phone: POST /agents/me/browser-phone first")
    return await carry_sip(request, phones.websocket_url(), request.get(SESSION))


async def carry_sip(
    request: web.Request, pbx_url: URL, session: BrowserSession | None = None
) -> web.WebSocketResponse:
    """The browser's websocket carried to Asterisk's, frames both ways unchanged, until either
    side closes (or `session`, a desk's, ends)."""
    browser = web.WebSocketResponse(protocols=(SIP_SUBPROTOCOL,), heartbeat=25)
    await browser.prepare(request)
    try:
        with session_socket(request.app, session, browser):
            async with (
                aiohttp.ClientSession() as client,
                client.ws_connect(pbx_url, protocols=(SIP_SUBPROTOCOL,), heartbeat=25) as pbx,
                asyncio.TaskGroup() as tasks,
            ):
                watch = None
                if session is not None:
                    idle = timedelta(minutes=request.app[WEB].session_idle_minutes)
                    watch = tasks.create_task(
                        end_with_session(browser, session, request.app[SIGNIN], idle)
                    )
                await asyncio.gather(_pump(browser, pbx), _pump(pbx, browser))
                if watch is not None:
                    watch.cancel()
    except (aiohttp.ClientError, OSError) as error:
        log.warning("browser_phone.pbx_unreachable", error=str(error))
        await browser.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"PBX unreachable")
    return browser


async def _pump(source, sink) -> None:
    """One direction; when the source ends, the sink is closed (which ends the other pump)."""
    try:
        async for message in source:
            if message.type is WSMsgType.TEXT:
                await sink.send_str(message.data)
            elif message.type is WSMsgType.BINARY:
                await sink.send_bytes(message.data)
    except ConnectionError:
        pass
    finally:
        await sink.close()


def add_phone_routes(app: web.Application, phones: BrowserPhones) -> None:
    """Before /agents/me/{action}."""
    app[BROWSER_PHONES] = phones
    app.router.add_post("/agents/me/browser-phone", issue_browser_phone)
    app.router.add_delete("/agents/me/browser-phone", withdraw_browser_phone)
    app.router.add_get(SIP_PATH, sip_websocket)
