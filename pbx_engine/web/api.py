"""The HTTP API for agents, supervisors and the service manager.

Every request but the probes (`GET /health`, `GET /ready`), the invitation pages and the
browser pages carries `Authorization: Bearer <token>` (issued with `pbx-engine agent token
LOGIN`) or comes from a signed-in browser (its session cookie, and its CSRF token on state
changes; see `web.browser_api`). Agents act on themselves and their own calls; supervisors and
admins also on campaigns and any call, and their actions are audited. Bodies are JSON checked
by pydantic; every error is JSON: `{"error": "..."}`, or `{"errors": [{"field": ...,
"problem": ...}]}` for a malformed body.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from functools import partial
from typing import Protocol
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from pbx_engine.agents.access import AgentAccessService
from pbx_engine.agents.browser_phones import BrowserPhones
from pbx_engine.agents.service import AgentError, AgentService
from pbx_engine.agents.states import IllegalAgentTransition
from pbx_engine.callerid.service import CallerIdService
from pbx_engine.campaigns.run_states import CampaignRunStates
from pbx_engine.cases.dispositions import DispositionInput
from pbx_engine.cases.ids import parse_case_id
from pbx_engine.cases.service import CaseService, DispositionService
from pbx_engine.conferences.invitation_service import InvitationService
from pbx_engine.conferences.parties import ThirdParties
from pbx_engine.conferences.room_service import RoomService
from pbx_engine.config import ConfigError, EngineConfig, WebConfig
from pbx_engine.dialer.campaign import CampaignRunner, PreviewError
from pbx_engine.dialer.one_off import OneOffCalls
from pbx_engine.dialer.service import Dialer
from pbx_engine.messaging.service import MessageService
from pbx_engine.notify import NotificationHub
from pbx_engine.notify.feed import FloorFeed
from pbx_engine.outbound.gate import OutboundGate
from pbx_engine.payments.service import PaymentService
from pbx_engine.readiness import Readiness
from pbx_engine.recording.service import CallRecorder
from pbx_engine.recordkeeper import NotRecording
from pbx_engine.recordkeeper.outbox import is_unreachable
from pbx_engine.refusals import Refused
from pbx_engine.reports.service import ReportService
from pbx_engine.signin import sessions
from pbx_engine.signin.service import SignInService
from pbx_engine.storage import Storage
from pbx_engine.storage.models import AgentRow
from pbx_engine.supervision.service import SupervisionService
from pbx_engine.web.browser_api import add_browser_routes, is_public
from pbx_engine.web.calls_api import add_call_routes
from pbx_engine.web.common import (
    ACCESS,
    AGENT,
    AGENTS,
    CALLER_IDS,
    CAMPAIGN_STATES,
    CAMPAIGNS,
    CASES,
    CONFIG,
    CONNECTOR,
    DISPOSITIONS,
    FEED,
    HUB,
    INVITATIONS,
    MESSAGES,
    ONE_OFF_CALLS,
    OUTBOUND,
    PARTIES,
    PAYMENTS,
    READINESS,
    RECORDER,
    REPORTS,
    ROOMS,
    SESSION,
    SIGNIN,
    SUPERVISION,
    audit,
    error_response,
    read_body,
    require_role,
)
from pbx_engine.web.edge import HASH_GATE, THROTTLE, WEB, install_edge
from pbx_engine.web.messages_api import add_message_routes
from pbx_engine.web.openapi import add_openapi_route
from pbx_engine.web.outbound_api import add_outbound_routes
from pbx_engine.web.payloads import (
    CallPayload,
    DispositionPayload,
    LoginPayload,
    PausePayload,
    PaymentPayload,
)
from pbx_engine.web.payments_api import add_payment_routes
from pbx_engine.web.phone_api import BROWSER_PHONES, add_phone_routes
from pbx_engine.web.probes import add_probe_routes
from pbx_engine.web.rooms_api import add_room_routes
from pbx_engine.web.tokens_api import add_token_routes
from pbx_engine.web.widget_api import add_widget_routes
from pbx_engine.widget.service import WidgetService

log = structlog.get_logger(__name__)

OPEN_PATHS = ("/health", "/ready", "/openapi.json")  # no credentials needed


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _database_away(error: Exception) -> bool:
    """Whether `error` is the database not answering: an unreachable kind, raised in asyncpg
    (a client's dropped connection is an OSError too, and is not this)."""
    if not is_unreachable(error):
        return False
    frames = traceback.extract_tb(error.__traceback__)
    return any(f"{os.sep}asyncpg{os.sep}" in frame.filename for frame in frames)


@web.middleware
async def database_away_as_503(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request that needed the database while it cannot be reached: 503 saying so, with
    when to try again, not a bare 500 (the calls up go on; their records are owed)."""
    try:
        return await handler(request)
    except Exception as error:
        if not _database_away(error):
            raise
        log.warning("api.database_unreachable", path=request.path, error=str(error))
        response = error_response(503, "the database cannot be reached just now: try again shortly")
        response.headers["Retry-After"] = "5"
        return response


@web.middleware
async def no_nul_in_path(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A NUL character (`%00`) in the path names nothing, and one in a query parameter is no
    value: PostgreSQL can neither store nor look up text holding one."""
    if "\x00" in request.path:
        return error_response(404, "no such path")
    for name, value in request.query.items():
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "\\0")
            return error_response(422, f"query parameter {shown!r}: contains a NUL character")
    return await handler(request)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A bearer token (API clients), else a browser session's cookie; with the cookie, a
    state-changing request must echo the session's CSRF token and a websocket must come from
    our own pages (its Origin)."""
    if (
        request.path in OPEN_PATHS
        or request.path.startswith(("/join/", "/unsubscribe/", "/sms/", "/pay/", "/widget/"))
        or request.path == "/payments/webhook"
        or is_public(request)
    ):
        # /join, /unsubscribe, /sms/receipt, /pay: the signed path is the permission;
        # /widget: open to anyone, and only ever asks for a call back within its caps;
        # /sms/inbound: the gateway's token; /payments/webhook: the provider's signature.
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        agent = await request.app[SIGNIN].agent_by_token(token.strip())
        if agent is None:
            return error_response(401, "unknown or expired token")
        request[AGENT] = agent
        return await handler(request)
    session_id = request.cookies.get(sessions.COOKIE)
    if not session_id:
        return error_response(401, "missing bearer token")
    signin = request.app[SIGNIN]
    session = await signin.browser_session(session_id)
    if session is None:
        return error_response(401, "signed out or session expired")
    sent = request.headers.get(sessions.CSRF_HEADER)
    if not sessions.csrf_ok(request.method, session.csrf_token, sent):
        return error_response(403, "missing or wrong CSRF token")
    if not sessions.same_origin(request.headers.get("Origin"), request.host):
        return error_response(403, "request from another site")
    idle = timedelta(minutes=request.app[WEB].session_idle_minutes)
    if not await signin.touch(session, idle):
        return error_response(401, "signed out: the session was left unused too long")
    request[AGENT] = session.agent
    request[SESSION] = session
    return await handler(request)


@web.middleware
async def refusals_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A service refusing a request (`Refused`) answers with its status and message, and
    when to try again if it says."""
    try:
        return await handler(request)
    except Refused as refusal:
        response = error_response(refusal.status, str(refusal))
        if refusal.retry_after is not None:
            response.headers["Retry-After"] = str(int(refusal.retry_after.total_seconds()) + 1)
        return response


async def place_call(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    payload = await read_body(request, CallPayload)
    if isinstance(payload, web.Response):
        return payload
    placed = await request.app[ONE_OFF_CALLS].place(  # 422, 403 / 429 (on record), 503
        request[AGENT], payload.number, payload.case_id, payload.caller_id
    )
    return web.json_response({"channel_id": placed.channel_id}, status=202)


async def get_attempt(request: web.Request) -> web.Response:
    attempt = await request.app[CASES].attempt(request[AGENT], request.match_info["channel_id"])
    return web.json_response(attempt.as_json())


async def me(request: web.Request) -> web.Response:
    agent: AgentRow = request[AGENT]
    status = request.app[AGENTS].status(agent.login)
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
        body["call"] = await request.app[CASES].current_call(status.call_id)
    return web.json_response(body)


async def log_in(request: web.Request) -> web.Response:
    """`POST /agents/me/login [{"phone": "browser"}]`: ring my softphone, or my desk's browser
    phone, and keep it as my shift's leg."""
    agents, login = request.app[AGENTS], request[AGENT].login
    endpoint = None
    if request.can_read_body:
        payload = await read_body(request, LoginPayload)
        if isinstance(payload, web.Response):
            return payload
        if payload.phone == "browser":
            endpoint = request.app[BROWSER_PHONES].endpoint_of(login)
            if endpoint is None:
                return error_response(409, "no browser phone: the desk asks for one first")
    try:
        await agents.login(login, endpoint)
    except (AgentError, IllegalAgentTransition) as error:
        return error_response(409, str(error))
    return await me(request)


async def agent_action(request: web.Request) -> web.Response:
    agents, login = request.app[AGENTS], request[AGENT].login
    action = request.match_info["action"]
    try:
        if action == "ready":
            await agents.ready(login)
        elif action == "logout":
            await agents.logout(login)
        elif action == "pause":
            payload = await read_body(request, PausePayload)
            if isinstance(payload, web.Response):
                return payload
            await agents.pause(login, payload.reason)
        else:
            return error_response(404, f"no agent action {action!r}")
    except (AgentError, IllegalAgentTransition) as error:
        return error_response(409, str(error))
    return await me(request)


async def disposition(request: web.Request) -> web.Response:
    """`POST /calls/{channel_id}/disposition`: 404 for a call not his, 422 for a disposition
    missing what its code needs (`cases.service`)."""
    payload = await read_body(request, DispositionPayload)
    if isinstance(payload, web.Response):
        return payload
    given = DispositionInput(
        payload.code,
        payload.promise_amount,
        payload.promise_date,
        payload.callback_at,
        payload.note,
        payload.callback_owner_only,
    )
    saved = await request.app[DISPOSITIONS].record(
        request[AGENT], request.match_info["channel_id"], given
    )
    return web.json_response(saved.as_json(), status=201)


def _preview_runner(campaigns: Mapping[str, CampaignRunner], login: str) -> CampaignRunner | None:
    for runner in campaigns.values():
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
    login = request[AGENT].login
    runner = _preview_runner(request.app[CAMPAIGNS], login)
    if runner is None:
        return error_response(404, "no running preview campaign for you")
    step = request.match_info.get("step", "")
    try:
        if step == "":
            plan = await runner.offer(login)
            if plan is None:
                return error_response(404, "no case is due now")
            case = await request.app[CASES].dossier_json(plan.case_id)
            if case is not None and (payments := request.app.get(PAYMENTS)) is not None:
                case["pay_link"] = payments.link(plan.case_id)
            return web.json_response(
                {"campaign": runner.campaign.name, "number": plan.e164, "case": case}
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


def _refused_quiet_of(
    campaigns: Mapping[str, CampaignRunner], campaign_id: int | None
) -> timedelta | None:
    """The quiet time after a refusal under the campaign's compliance profile, if any."""
    for runner in campaigns.values():
        if runner.campaign_id == campaign_id:
            return runner.campaign.compliance_profile().refused_quiet
    return None


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
    reports = request.app[REPORTS]
    listed = []
    for runner in request.app[CAMPAIGNS].values():
        figures = await reports.campaign_figures(
            runner.campaign_id, runner.campaign.compliance_profile()
        )
        listed.append({**_campaign_json(runner), **figures})
    return web.json_response(listed)


async def campaign_split(request: web.Request) -> web.Response:
    """`GET /campaigns/{name}/split`: champion against challenger, each figure with its 95%
    interval and whether the difference is real yet."""
    if denied := require_role(request):
        return denied
    runner = request.app[CAMPAIGNS].get(request.match_info["name"])
    if runner is None:
        return error_response(404, "no such campaign")
    section = runner.campaign.strategy
    if section is None or section.challenger is None:
        return error_response(404, "the campaign has no champion/challenger split")
    split = section.split or runner.campaign.name
    comparisons = await request.app[REPORTS].split_report(runner.campaign_id, split)
    return web.json_response(
        {
            "split": split,
            "champion": str(section.file),
            "challenger": str(section.challenger),
            "challenger_share": section.challenger_share,
            "comparisons": [c.as_json() for c in comparisons],
        }
    )


async def record_payment(request: web.Request) -> web.Response:
    """`POST /cases/{case_id}/payments`: a payment reported by the creditor (the dossier's
    "paid", and the reports' kept promises)."""
    if denied := require_role(request):
        return denied
    payload = await read_body(request, PaymentPayload)
    if isinstance(payload, web.Response):
        return payload
    case_id = parse_case_id(request.match_info["case_id"])
    if case_id is None:
        return error_response(404, "no such case")
    payment_id = await request.app[CASES].record_payment(  # NoSuchCase: 404
        case_id, payload.amount, payload.paid_on, payload.reference
    )
    await audit(request, "record_payment", f"case {case_id} {payload.amount}")
    return web.json_response({"id": payment_id}, status=201)


async def callbacks(request: web.Request) -> web.Response:
    """Callbacks still to make and those missed (`?status=pending|missed|done`)."""
    if denied := require_role(request):
        return denied
    callbacks = await request.app[CASES].callbacks(request.query.get("status", "pending"))
    return web.json_response([c.as_json() for c in callbacks])


async def numbers(request: web.Request) -> web.Response:
    """Every caller-ID number: pool, place, use today, and whether it is resting (and why)."""
    if denied := require_role(request):
        return denied
    return web.json_response(request.app[CALLER_IDS].report())


async def reload_numbers(request: web.Request) -> web.Response:
    """Read the number-pools file again; a bad file is refused (422, with its line) and the
    running pools stay."""
    if denied := require_role(request):
        return denied
    await audit(request, "reload_numbers", "number pools")
    try:
        reloaded = await request.app[CALLER_IDS].reload()
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
    runner = request.app[CAMPAIGNS].get(request.match_info["name"])
    if runner is None:
        return error_response(404, "no such campaign")
    action = request.match_info["action"]
    if action not in ("start", "pause", "stop"):
        return error_response(404, f"no campaign action {action!r}")
    getattr(runner, action)()
    await request.app[CAMPAIGN_STATES].remember(runner)
    await audit(request, f"campaign_{action}", runner.campaign.name)
    request.app[FEED].campaign_changed()
    return web.json_response(_campaign_json(runner))


class EngineParts(Protocol):
    """What the HTTP tier takes from the engine: each part is filed under its app key, and
    handlers reach only those (never the engine itself)."""

    config: EngineConfig
    zone: ZoneInfo
    invitation_secret: bytes
    storage: Storage
    messages: MessageService
    payments: PaymentService | None
    agents: AgentService
    browser_phones: BrowserPhones
    widget: WidgetService | None
    callerid: CallerIdService
    campaigns: Mapping[str, CampaignRunner]
    dialer: Dialer
    outbound: OutboundGate
    recorder: CallRecorder
    supervision: SupervisionService
    parties: ThirdParties
    rooms: RoomService
    hub: NotificationHub
    feed: FloorFeed

    async def readiness(self) -> Readiness: ...


def install_services(app: web.Application, engine: EngineParts) -> None:
    """The engine's services under their keys, and the services only the API uses."""
    app[CONFIG] = engine.config
    app[READINESS] = engine.readiness
    app[AGENTS] = engine.agents
    app[CALLER_IDS] = engine.callerid
    app[CAMPAIGNS] = engine.campaigns
    app[CAMPAIGN_STATES] = CampaignRunStates(engine.storage.campaigns)
    app[MESSAGES] = engine.messages
    if engine.payments is not None:
        app[PAYMENTS] = engine.payments
    app[OUTBOUND] = engine.outbound
    app[RECORDER] = engine.recorder
    app[SUPERVISION] = engine.supervision
    app[PARTIES] = engine.parties
    app[CONNECTOR] = engine.connector
    app[ROOMS] = engine.rooms
    app[HUB] = engine.hub
    app[FEED] = engine.feed
    app[CASES] = CaseService(engine.storage)
    app[REPORTS] = ReportService(engine.storage, engine.zone)
    app[ONE_OFF_CALLS] = OneOffCalls(
        engine.dialer,
        engine.outbound,
        engine.callerid,
        engine.supervision.record_action,
        region=engine.config.default_region,
        default_caller_id=engine.config.dialer.caller_id,
    )
    app[DISPOSITIONS] = DispositionService(
        engine.storage,
        engine.agents,
        engine.feed,
        refused_quiet_of=partial(_refused_quiet_of, engine.campaigns),
        revoke_all_day=engine.config.messages.revoke_all_from,
    )
    app[ACCESS] = AgentAccessService(engine.storage, engine.agents, softphones=engine.softphones)
    app[INVITATIONS] = InvitationService(
        engine.storage, engine.rooms, engine.invitation_secret, engine.config.outbound
    )


def build_app(engine: EngineParts, web_config: WebConfig | None = None) -> web.Application:
    """The app for `engine`; `web_config` overrides the config's `[web]` (tests)."""
    app = web.Application(
        middlewares=[database_away_as_503, no_nul_in_path, authenticate, refusals_as_json]
    )
    install_services(app, engine)
    install_edge(app, web_config or engine.config.web)
    app[SIGNIN] = SignInService(engine.storage, app[HASH_GATE], app[THROTTLE])
    add_probe_routes(app)
    app.router.add_post("/calls", place_call)
    app.router.add_get("/attempts/{channel_id}", get_attempt)
    app.router.add_post("/calls/{channel_id}/disposition", disposition)
    app.router.add_get("/agents/me", me)
    add_token_routes(app)  # before /agents/me/{action}
    add_phone_routes(app, engine.browser_phones)  # before /agents/me/{action}
    add_widget_routes(app, engine.widget)
    app.router.add_post("/agents/me/preview", preview)
    app.router.add_post("/agents/me/preview/{step}", preview)
    app.router.add_post("/agents/me/login", log_in)
    app.router.add_post("/agents/me/{action}", agent_action)
    app.router.add_get("/callbacks", callbacks)
    app.router.add_post("/cases/{case_id}/payments", record_payment)
    app.router.add_get("/numbers", numbers)
    app.router.add_post("/numbers/reload", reload_numbers)
    app.router.add_get("/campaigns", campaigns)
    app.router.add_post("/campaigns/{name}/{action}", campaign_action)
    app.router.add_get("/campaigns/{name}/split", campaign_split)
    add_call_routes(app)
    add_room_routes(app)
    add_outbound_routes(app)
    add_message_routes(app)
    add_payment_routes(app)
    add_browser_routes(app)
    add_openapi_route(app)
    return app
