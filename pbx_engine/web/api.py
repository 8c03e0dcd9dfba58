"""The HTTP API for agents, supervisors and the service manager.

Every request but `GET /health`, the invitation pages and the browser pages carries
`Authorization: Bearer <token>` (issued with `pbx-engine agent token LOGIN`) or comes from a
signed-in browser (its session cookie, and its CSRF token on state changes; see
`web.browser_api`). Agents act on themselves and their own calls; supervisors and admins also
on campaigns and any call, and their actions are audited. Bodies are JSON checked by
pydantic; every error is JSON: `{"error": "..."}`, or `{"errors": [{"field": ...,
"problem": ...}]}` for a malformed body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from pbx_engine.agents.service import AgentError
from pbx_engine.agents.states import IllegalAgentTransition
from pbx_engine.cases.dispositions import DispositionError, DispositionInput, next_action
from pbx_engine.compliance.timezones import debtor_zones
from pbx_engine.config import ConfigError, WebConfig
from pbx_engine.dialer.campaign import PreviewError
from pbx_engine.dialer.service import CallRequest, DialerClosed
from pbx_engine.numbers import BadNumber, to_e164
from pbx_engine.outbound.gate import DialAsk
from pbx_engine.outbound.policy import Purpose
from pbx_engine.recordkeeper import NotRecording
from pbx_engine.refusals import Refused
from pbx_engine.signin import sessions
from pbx_engine.storage.models import AgentRow
from pbx_engine.web.browser_api import add_browser_routes, is_public
from pbx_engine.web.calls_api import add_call_routes
from pbx_engine.web.common import (
    AGENT,
    ENGINE,
    SESSION,
    SUPERVISORS,
    audit,
    error_response,
    read_body,
    require_role,
)
from pbx_engine.web.edge import WEB, install_edge
from pbx_engine.web.openapi import add_openapi_route
from pbx_engine.web.outbound_api import add_outbound_routes
from pbx_engine.web.payloads import CallPayload, DispositionPayload, PausePayload, PaymentPayload
from pbx_engine.web.rooms_api import add_room_routes
from pbx_engine.web.tokens_api import add_token_routes

if TYPE_CHECKING:
    from pbx_engine.engine import Engine

log = structlog.get_logger(__name__)

OPEN_PATHS = ("/health", "/openapi.json")  # no credentials needed


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def no_nul_in_path(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A NUL character (`%00`) in the path names nothing: PostgreSQL cannot even look it up."""
    if "\x00" in request.path:
        return error_response(404, "no such path")
    return await handler(request)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A bearer token (API clients), else a browser session's cookie; with the cookie, a
    state-changing request must echo the session's CSRF token and a websocket must come from
    our own pages (its Origin)."""
    if request.path in OPEN_PATHS or request.path.startswith("/join/") or is_public(request):
        return await handler(request)  # /join: the signed invitation is the permission
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        agent = await request.app[ENGINE].storage.agent_by_token(token.strip())
        if agent is None:
            return error_response(401, "unknown or expired token")
        request[AGENT] = agent
        return await handler(request)
    session_id = request.cookies.get(sessions.COOKIE)
    if not session_id:
        return error_response(401, "missing bearer token")
    storage, now = request.app[ENGINE].storage, datetime.now(UTC)
    session = await storage.sessions.browser_session(sessions.session_digest(session_id), now)
    if session is None:
        return error_response(401, "signed out or session expired")
    sent = request.headers.get(sessions.CSRF_HEADER)
    if not sessions.csrf_ok(request.method, session.csrf_token, sent):
        return error_response(403, "missing or wrong CSRF token")
    if not sessions.same_origin(request.headers.get("Origin"), request.host):
        return error_response(403, "request from another site")
    idle = timedelta(minutes=request.app[WEB].session_idle_minutes)
    if not await storage.signin.touch_session(session.id_sha256, now, idle):
        return error_response(401, "signed out: the session was left unused too long")
    request[AGENT] = session.agent
    request[SESSION] = session
    return await handler(request)


@web.middleware
async def refusals_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A service refusing a request (`Refused`) answers with its status and message."""
    try:
        return await handler(request)
    except Refused as refusal:
        return error_response(refusal.status, str(refusal))


async def health(request: web.Request) -> web.Response:
    checks = await request.app[ENGINE].health()
    status = 200 if all(checks.values()) else 503
    return web.json_response({"healthy": status == 200, **checks}, status=status)


async def place_call(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    payload = await read_body(request, CallPayload)
    if isinstance(payload, web.Response):
        return payload
    engine = request.app[ENGINE]
    caller_id = payload.caller_id
    if caller_id is not None:
        caller_id = _presentable(engine, caller_id)
        if caller_id is None:
            return error_response(422, "caller_id: not a number of the caller-ID pools")
    await audit(request, "test_call", payload.number)
    await engine.outbound.check(  # OutboundRefused: 403 / 429, on record
        DialAsk(Purpose.TEST_CALL, payload.number, agent_id=request[AGENT].id)
    )
    try:
        placed = engine.dialer.place_call(
            CallRequest(
                number=payload.number,
                case_id=payload.case_id,
                caller_id=caller_id,
                purpose=Purpose.TEST_CALL,
            )
        )
    except (DialerClosed, NotRecording) as error:
        return error_response(503, str(error))
    return web.json_response({"channel_id": placed.channel_id}, status=202)


def _presentable(engine: Engine, caller_id: str) -> str | None:
    """The caller ID as +E.164 when the centre owns it (a pools' number or the configured
    default), else None: the engine must not present numbers that are not ours."""
    try:
        number = to_e164(caller_id, engine.config.default_region)
    except BadNumber:
        return None
    ours = set(engine.callerid.pools.by_number()) | {engine.config.dialer.caller_id}
    return number if number in ours else None


async def get_attempt(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    attempt = await engine.storage.attempts.get_attempt(request.match_info["channel_id"])
    me: AgentRow = request[AGENT]
    if attempt is None or (me.role not in SUPERVISORS and attempt.agent_id != me.id):
        return error_response(404, "no such call")
    return web.json_response(attempt.as_json())


async def me(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    agent: AgentRow = request[AGENT]
    status = engine.agents.status(agent.login)
    body: dict = {
        "login": agent.login,
        "name": agent.name,
        "role": agent.role,
        "state": status.state.value if status else "logged_out",
        "since": status.since.isoformat() if status and status.since else None,
        "reason": status.reason if status else None,
        "call": None,
    }
    if status and status.call_id:
        attempt = await engine.storage.attempts.get_attempt(status.call_id)
        if attempt is not None:
            inbound = attempt.direction == "inbound"
            body["call"] = {
                "channel_id": attempt.channel_id,
                "direction": attempt.direction,
                # the debtor's number: the one we dialled, or the one he calls from
                "number": attempt.caller_id if inbound else attempt.dialled,
                "case": await _dossier_json(engine, attempt.case_id),
            }
    return web.json_response(body)


async def _dossier_json(engine: Engine, case_id: int | None) -> dict | None:
    dossier = await engine.storage.cases.case_dossier(case_id) if case_id else None
    return dossier.as_json() if dossier else None


async def agent_action(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    login = request[AGENT].login
    action = request.match_info["action"]
    try:
        if action == "login":
            await engine.agents.login(login)
        elif action == "ready":
            await engine.agents.ready(login)
        elif action == "logout":
            await engine.agents.logout(login)
        elif action == "pause":
            payload = await read_body(request, PausePayload)
            if isinstance(payload, web.Response):
                return payload
            await engine.agents.pause(login, payload.reason)
        else:
            return error_response(404, f"no agent action {action!r}")
    except (AgentError, IllegalAgentTransition) as error:
        return error_response(409, str(error))
    return await me(request)


async def disposition(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    agent: AgentRow = request[AGENT]
    payload = await read_body(request, DispositionPayload)
    if isinstance(payload, web.Response):
        return payload
    channel_id = request.match_info["channel_id"]
    attempt = await engine.storage.attempts.get_attempt(channel_id)
    if (
        attempt is None
        or attempt.case_id is None
        or (
            agent.role not in SUPERVISORS
            and attempt.agent_id != agent.id
            and not await engine.storage.attempts.handed_over(channel_id, agent.id)
        )
    ):
        return error_response(404, "no call of yours with that id")
    dossier = await engine.storage.cases.case_dossier(attempt.case_id)
    zone = debtor_zones(dossier.timezone, attempt.dialled, "UTC")[0]
    given = DispositionInput(
        payload.code,
        payload.promise_amount,
        payload.promise_date,
        payload.callback_at,
        payload.note,
        payload.callback_owner_only,
    )
    try:
        update = next_action(given, datetime.now(UTC), zone)
    except DispositionError as error:
        return error_response(422, str(error))
    disposition_id = await engine.storage.cases.record_disposition(
        channel_id, agent.id, given, update
    )
    saved = {
        "id": disposition_id,
        "code": payload.code.value,
        "case_status": update.status,
        "next_call_at": update.next_call_at.isoformat() if update.next_call_at else None,
    }
    log.info("call.disposition", agent=agent.login, channel_id=channel_id, code=saved["code"])
    owner = engine.agents.login_of(attempt.agent_id) if attempt.agent_id else None
    engine.feed.disposition_saved(owner or agent.login, channel_id, saved)
    return web.json_response(saved, status=201)


def _preview_runner(engine, login: str):
    for runner in engine.campaigns.values():
        if (
            runner.campaign.dial_mode == "preview"
            and runner.state.value == "running"
            and (not runner.campaign.agents or login in runner.campaign.agents)
        ):
            return runner
    return None


async def preview(request: web.Request) -> web.Response:
    """Preview mode: offer the next case (`POST /agents/me/preview`), then `.../dial` or
    `.../skip` it."""
    engine = request.app[ENGINE]
    login = request[AGENT].login
    runner = _preview_runner(engine, login)
    if runner is None:
        return error_response(404, "no running preview campaign for you")
    step = request.match_info.get("step", "")
    try:
        if step == "":
            plan = await runner.offer(login)
            if plan is None:
                return error_response(404, "no case is due now")
            return web.json_response(
                {
                    "campaign": runner.campaign.name,
                    "number": plan.e164,
                    "case": await _dossier_json(engine, plan.case_id),
                }
            )
        if step == "dial":
            placed = await runner.dial_offered(login)
            return web.json_response({"channel_id": placed.channel_id}, status=202)
        if step == "skip":
            await runner.skip_offered(login)
            return await me(request)
    except PreviewError as error:
        return error_response(409, str(error))
    except NotRecording as error:  # the case goes back to the queue, the agent to ready
        return error_response(503, str(error))
    return error_response(404, f"no preview step {step!r}")


def _campaign_json(runner) -> dict:
    return {
        "name": runner.campaign.name,
        "dial_mode": runner.campaign.dial_mode,
        "state": runner.state.value,
        "placed": runner.placed,
        "in_flight": runner.in_flight,
    }


async def campaigns(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    engine = request.app[ENGINE]
    now = datetime.now(engine.zone)  # "today" is the centre's day
    listed = []
    for runner in engine.campaigns.values():
        body = _campaign_json(runner)
        body["abandon_target"] = runner.campaign.compliance_profile().abandon_target
        rates = await engine.storage.reports.abandon_rates(
            runner.campaign_id,
            now,
            amd_false_positive_share=runner.campaign.compliance_profile().amd_false_positive_share,
        )
        body["abandon_rates"] = {period: rate.as_json() for period, rate in rates.items()}
        last_24h = await engine.storage.reports.campaign_report(
            runner.campaign_id, now - timedelta(hours=24)
        )
        body["last_24h"] = last_24h.as_json()
        listed.append(body)
    return web.json_response(listed)


async def record_payment(request: web.Request) -> web.Response:
    """`POST /cases/{case_id}/payments`: a payment reported by the creditor (the dossier's
    "paid", and the reports' kept promises)."""
    if denied := require_role(request):
        return denied
    payload = await read_body(request, PaymentPayload)
    if isinstance(payload, web.Response):
        return payload
    try:
        case_id = int(request.match_info["case_id"])
    except ValueError:
        return error_response(404, "no such case")
    if not 0 < case_id < 2**63:  # beyond a bigint key: PostgreSQL would refuse the query
        return error_response(404, "no such case")
    payment_id = await request.app[ENGINE].storage.cases.record_payment(
        case_id, payload.amount, payload.paid_on, payload.reference
    )
    if payment_id is None:
        return error_response(404, "no such case")
    await audit(request, "record_payment", f"case {case_id} {payload.amount}")
    return web.json_response({"id": payment_id}, status=201)


async def callbacks(request: web.Request) -> web.Response:
    """Callbacks still to make and those missed (`?status=pending|missed|done`)."""
    if denied := require_role(request):
        return denied
    status = request.query.get("status", "pending")
    if status not in ("pending", "missed", "done", "cancelled"):
        return error_response(422, f"unknown status {status!r}")
    callbacks = await request.app[ENGINE].storage.callbacks.list_callbacks(status)
    return web.json_response([c.as_json() for c in callbacks])


async def numbers(request: web.Request) -> web.Response:
    """Every caller-ID number: pool, place, use today, and whether it is resting (and why)."""
    if denied := require_role(request):
        return denied
    return web.json_response(request.app[ENGINE].callerid.report())


async def reload_numbers(request: web.Request) -> web.Response:
    """Read the number-pools file again; a bad file is refused (422, with its line) and the
    running pools stay."""
    if denied := require_role(request):
        return denied
    await audit(request, "reload_numbers", "number pools")
    try:
        reloaded = await request.app[ENGINE].callerid.reload()
    except FileNotFoundError as error:
        return error_response(409, str(error))
    except ConfigError as error:
        return error_response(422, str(error))
    return web.json_response(
        {"pools": reloaded.pools, "numbers": reloaded.numbers, "source": reloaded.source}
    )


async def campaign_action(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    runner = request.app[ENGINE].campaigns.get(request.match_info["name"])
    if runner is None:
        return error_response(404, "no such campaign")
    action = request.match_info["action"]
    if action not in ("start", "pause", "stop"):
        return error_response(404, f"no campaign action {action!r}")
    getattr(runner, action)()
    await audit(request, f"campaign_{action}", runner.campaign.name)
    request.app[ENGINE].feed.campaign_changed()
    return web.json_response(_campaign_json(runner))


def build_app(engine: Engine, web_config: WebConfig | None = None) -> web.Application:
    """The app for `engine`; `web_config` overrides the config's `[web]` (tests)."""
    app = web.Application(middlewares=[no_nul_in_path, authenticate, refusals_as_json])
    app[ENGINE] = engine
    install_edge(app, web_config or engine.config.web)
    app.router.add_get("/health", health)
    app.router.add_post("/calls", place_call)
    app.router.add_get("/attempts/{channel_id}", get_attempt)
    app.router.add_post("/calls/{channel_id}/disposition", disposition)
    app.router.add_get("/agents/me", me)
    add_token_routes(app)  # before /agents/me/{action}
    app.router.add_post("/agents/me/preview", preview)
    app.router.add_post("/agents/me/preview/{step}", preview)
    app.router.add_post("/agents/me/{action}", agent_action)
    app.router.add_get("/callbacks", callbacks)
    app.router.add_post("/cases/{case_id}/payments", record_payment)
    app.router.add_get("/numbers", numbers)
    app.router.add_post("/numbers/reload", reload_numbers)
    app.router.add_get("/campaigns", campaigns)
    app.router.add_post("/campaigns/{name}/{action}", campaign_action)
    add_call_routes(app)
    add_room_routes(app)
    add_outbound_routes(app)
    add_browser_routes(app)
    add_openapi_route(app)
    return app
