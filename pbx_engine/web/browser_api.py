"""What browsers use: signing in and out, the live notices websocket, the pages (agent desktop,
supervisor wallboard, reports) and the reports' data.

    GET  /signin                  the sign-in page
    POST /signin {login, password[, next]}  opens a session: an HttpOnly, SameSite=Strict
                                  cookie (Secure except in development mode); the answer carries
                                  the session's CSRF token and the page to go to (`next` when
                                  it is a path of this site). JSON only, from our own page
                                  (Origin); throttled per login and address
    GET  /signin/session          who is signed in, and the CSRF token (pages ask on load)
    POST /signout                 ends the session
    POST /signin/password {current, new}  changes the signed-in agent's password; his other
                                  sessions end (their open pages go back to the sign-in form)
    GET  /ws                      notices as JSON: a snapshot first, then every change
    GET  /desk/, /wallboard/, /reports/   the pages (static files, no data in them)
    GET  /reports/daily?per=campaign|agent&from=&to=[&format=csv]
    GET  /supervisor-actions      the audit log of supervisors' actions

A browser session authenticates like a bearer token; every state-changing request made with it
must carry the CSRF token in `X-CSRF-Token` (see `web.api.authenticate`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from weakref import WeakSet

import structlog
from aiohttp import WSCloseCode, web
from pydantic import Field

from pbx_engine.notify.feed import FloorFeed
from pbx_engine.notify.hub import RESYNC, Subscription
from pbx_engine.reports.figures import as_csv
from pbx_engine.signin import sessions
from pbx_engine.signin.service import SignInService
from pbx_engine.storage.models import AgentRow, BrowserSession
from pbx_engine.web.common import (
    AGENT,
    FEED,
    HUB,
    REPORTS,
    SESSION,
    SIGNIN,
    SUPERVISION,
    SUPERVISORS,
    Payload,
    error_response,
    read_body,
    require_role,
)
from pbx_engine.web.edge import WEB, client, cookie_secure
from pbx_engine.web.security import safe_next, same_site_origin

log = structlog.get_logger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
# Open websockets by the browser session they belong to (None: bearer-token clients).
SOCKETS = web.AppKey("sockets", dict)
SIGNED_OUT = 4001  # websocket close code: the page goes back to the sign-in form
PAGES = {
    "/signin": "signin.html",
    "/desk/": "desk.html",
    "/wallboard/": "wallboard.html",
    "/reports/": "reports.html",
}
# Open to anyone: pages hold no data (their scripts fetch it signed in) and assets.
PUBLIC_PREFIXES = ("/static/",)
SESSION_CHECK_EVERY = 60.0  # seconds between checks that an open page's session still stands


class SignInPayload(Payload):
    login: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)
    next: str | None = Field(None, max_length=2000)  # the page to land on: this site's only


class PasswordPayload(Payload):
    current: str = Field(min_length=1, max_length=200)
    new: str = Field(min_length=1, max_length=200)


def is_public(request: web.Request) -> bool:
    if request.path == "/":
        return True
    if request.path in PAGES:
        return request.method in ("GET", "HEAD") or request.path == "/signin"
    return request.path.startswith(PUBLIC_PREFIXES)


async def page(request: web.Request) -> web.StreamResponse:
    if request.method == "POST":
        return await sign_in(request)
    return web.FileResponse(STATIC_DIR / PAGES[request.path], headers={"Cache-Control": "no-cache"})


async def sign_in(request: web.Request) -> web.Response:
    # Login CSRF: a foreign page could sign a victim's browser into the guesser's account.
    # A form post cannot send JSON, and a browser names the page it posts from in Origin.
    if request.content_type != "application/json":
        return error_response(415, "a sign-in is JSON: Content-Type: application/json")
    if not same_site_origin(request.headers.get("Origin"), request.host):
        log.warning("signin.foreign_origin", origin=request.headers.get("Origin"))
        return error_response(403, "a sign-in must come from this site's own page")
    payload = await read_body(request, SignInPayload)
    if isinstance(payload, web.Response):
        return payload
    # SignInBusy 503, TooManyTries 429 (with Retry-After), WrongPassword 401
    signed_in = await request.app[SIGNIN].sign_in(
        payload.login, payload.password, client(request).address
    )
    agent, opened = signed_in.agent, signed_in.session
    who = _who(agent, opened.csrf_token)
    if payload.next is not None:
        if safe := safe_next(payload.next):
            who["home"] = safe
        else:
            log.warning("signin.next_refused", agent=agent.login)
    response = web.json_response(who)
    response.set_cookie(
        sessions.COOKIE,
        opened.session_id,
        max_age=int(sessions.LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=cookie_secure(request),
    )
    return response


def _who(agent: AgentRow, csrf_token: str | None) -> dict:
    home = "/wallboard/" if agent.role in SUPERVISORS else "/desk/"
    return {
        "login": agent.login,
        "name": agent.name,
        "role": agent.role,
        "csrf_token": csrf_token,
        "home": home,
    }


async def current_session(request: web.Request) -> web.Response:
    session = request.get(SESSION)
    return web.json_response(_who(request[AGENT], session.csrf_token if session else None))


async def sign_out(request: web.Request) -> web.Response:
    session = request.get(SESSION)
    if session is not None:
        await request.app[SIGNIN].sign_out(session)
        # Its websockets (other tabs) stop receiving notices at once.
        for ws in list(request.app[SOCKETS].get(session.id_sha256, ())):
            await ws.close(code=SIGNED_OUT, message=b"signed out")
    log.info("signin.closed", agent=request[AGENT].login)
    response = web.json_response({"signed_out": True})
    response.del_cookie(sessions.COOKIE, path="/")
    return response


async def change_password(request: web.Request) -> web.Response:
    """The signed-in agent's own password: the current one first (throttled as at sign-in)."""
    payload = await read_body(request, PasswordPayload)
    if isinstance(payload, web.Response):
        return payload
    me, session = request[AGENT], request.get(SESSION)
    # SignInBusy 503, TooManyTries 429, WrongPassword 403, PasswordRefused 422
    ended = await request.app[SIGNIN].change_password(
        me,
        payload.current,
        payload.new,
        client(request).address,
        session.id_sha256 if session else None,
    )
    for key in ended:  # other browsers he left signed in stop at once
        for ws in list(request.app[SOCKETS].get(key, ())):
            await ws.close(code=SIGNED_OUT, message=b"password changed")
    return web.json_response({"changed": True, "sessions_ended": len(ended)})


async def notices(request: web.Request) -> web.WebSocketResponse:
    """The websocket: a snapshot, then each notice for this browser's user as it happens."""
    feed, hub, signin, me = request.app[FEED], request.app[HUB], request.app[SIGNIN], request[AGENT]
    session = request.get(SESSION)
    ws = web.WebSocketResponse(heartbeat=25)
    await ws.prepare(request)
    with (
        session_socket(request.app, session, ws),
        hub.subscribe(me.login, supervisor=me.role in SUPERVISORS) as subscription,
    ):
        await ws.send_json({"kind": "snapshot", "data": await feed.snapshot(me)})
        async with asyncio.TaskGroup() as tasks:
            helpers = [tasks.create_task(_forward(ws, subscription, me, feed))]
            if session is not None:
                idle = timedelta(minutes=request.app[WEB].session_idle_minutes)
                helpers.append(tasks.create_task(end_with_session(ws, session, signin, idle)))
            async for _message in ws:
                pass  # browsers send nothing we use; the loop ends when the socket closes
            for helper in helpers:
                helper.cancel()
    return ws


@contextmanager
def session_socket(
    app: web.Application, session: BrowserSession | None, ws: web.WebSocketResponse
) -> Iterator[None]:
    """While open, `ws` belongs to `session` (None: a bearer-token client's): signing out,
    a changed password or the engine stopping closes it."""
    key = session.id_sha256 if session else None
    app[SOCKETS].setdefault(key, WeakSet()).add(ws)
    try:
        yield
    finally:
        sockets = app[SOCKETS].get(key)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                del app[SOCKETS][key]


async def end_with_session(
    ws: web.WebSocketResponse, session: BrowserSession, signin: SignInService, idle: timedelta
) -> None:
    """A session that expires takes its websocket with it; so does one ended elsewhere (a
    password set with `pbx-engine agent password`, another engine), noticed within a minute.
    An open page is use of its session: it keeps the idle timeout from ending it."""
    while True:
        left = (session.expires_at - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(0.0, min(left, SESSION_CHECK_EVERY)))
        now = datetime.now(UTC)
        if now >= session.expires_at:
            await ws.close(code=SIGNED_OUT, message=b"session expired")
            return
        if not await signin.still_open(session, idle):
            await ws.close(code=SIGNED_OUT, message=b"session ended")
            return


async def _forward(
    ws: web.WebSocketResponse, subscription: Subscription, me: AgentRow, feed: FloorFeed
) -> None:
    while (notice := await subscription.get()) is not None:
        try:
            if notice.kind == RESYNC:
                # This browser fell behind and lost notices: a fresh snapshot replaces them.
                log.info("desk.resync", agent=me.login, dropped=subscription.dropped)
                await ws.send_json({"kind": "snapshot", "data": await feed.snapshot(me)})
            else:
                await ws.send_json(notice.as_json())
        except ConnectionError:
            return
    await ws.close(code=WSCloseCode.GOING_AWAY, message=b"engine stopping")


async def close_sockets(app: web.Application) -> None:
    """Shutdown: browsers are told to go (they reconnect when the engine is back)."""
    for sockets in list(app[SOCKETS].values()):
        for ws in list(sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"engine stopping")


async def daily_report(request: web.Request) -> web.Response:
    """Per campaign (supervisors) or per agent and day; an agent gets his own rows only."""
    query = request.query
    daily = await request.app[REPORTS].daily(  # ReportRefused: 422, 403
        request[AGENT], query.get("per", "campaign"), query.get("from"), query.get("to")
    )
    per, since, until = daily.per, daily.since, daily.until
    if query.get("format") == "csv":
        return web.Response(
            text=as_csv(daily.rows, per),
            content_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="report-{per}-{since}-{until}.csv"'
            },
        )
    return web.json_response(
        {
            "per": per,
            "from": since.isoformat(),
            "to": until.isoformat(),
            "zone": str(daily.zone),
            "rows": [r.as_json() for r in daily.rows],
        }
    )


async def supervisor_actions(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    actions = await request.app[SUPERVISION].actions()
    return web.json_response([a.as_json() for a in actions])


def add_browser_routes(app: web.Application) -> None:
    app[SOCKETS] = {}
    app.on_shutdown.append(close_sockets)
    for path in PAGES:
        app.router.add_get(path, page)
    app.router.add_post("/signin", page)
    app.router.add_get("/signin/session", current_session)
    app.router.add_post("/signout", sign_out)
    app.router.add_post("/signin/password", change_password)
    app.router.add_get("/ws", notices)
    app.router.add_get("/reports/daily", daily_report)
    app.router.add_get("/supervisor-actions", supervisor_actions)
    app.router.add_static("/static/", STATIC_DIR)
    app.router.add_get("/", _to_sign_in)


async def _to_sign_in(request: web.Request) -> web.Response:
    raise web.HTTPFound("/signin")
