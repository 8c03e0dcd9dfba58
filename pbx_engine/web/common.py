"""What every part of the HTTP API shares: the app keys (one per service a handler uses,
filed by `web.api.build_app`; handlers never reach the engine or the database themselves) and
request keys, who counts as a supervisor, the JSON body base model and its reader, the JSON
error, the role check and the audit of supervisors' actions. The route modules (`api`,
`calls_api`, `rooms_api`, `browser_api`, `outbound_api`, `tokens_api`, `openapi`) import from
here, never from each other's handlers.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated

import structlog
from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, field_validator

from pbx_engine.agents.access import AgentAccessService
from pbx_engine.agents.service import AgentService
from pbx_engine.callerid.service import CallerIdService
from pbx_engine.campaigns.run_states import CampaignRunStates
from pbx_engine.cases.service import CaseService, DispositionService
from pbx_engine.conferences.invitation_service import InvitationService
from pbx_engine.conferences.parties import ThirdParties
from pbx_engine.conferences.room_service import RoomService
from pbx_engine.config import EngineConfig
from pbx_engine.dialer.campaign import CampaignRunner
from pbx_engine.dialer.connector import AgentConnector
from pbx_engine.dialer.one_off import OneOffCalls
from pbx_engine.messaging.service import MessageService
from pbx_engine.notify import NotificationHub
from pbx_engine.notify.feed import FloorFeed
from pbx_engine.numbers import BadNumber, to_e164
from pbx_engine.outbound.gate import OutboundGate
from pbx_engine.payments.service import PaymentService
from pbx_engine.readiness import Readiness
from pbx_engine.recording.service import CallRecorder
from pbx_engine.reports.service import ReportService
from pbx_engine.signin.service import SignInService
from pbx_engine.storage.models import AgentRow, BrowserSession
from pbx_engine.supervision.service import SupervisionService

log = structlog.get_logger(__name__)

CONFIG = web.AppKey("engine_config", EngineConfig)
READINESS = web.AppKey("readiness", Callable[[], Awaitable[Readiness]])
AGENTS = web.AppKey("agents", AgentService)
SIGNIN = web.AppKey("signin", SignInService)
ACCESS = web.AppKey("agent_access", AgentAccessService)
DISPOSITIONS = web.AppKey("dispositions", DispositionService)
CASES = web.AppKey("cases", CaseService)
REPORTS = web.AppKey("reports", ReportService)
CALLER_IDS = web.AppKey("caller_ids", CallerIdService)
CAMPAIGNS = web.AppKey("campaigns", Mapping[str, CampaignRunner])  # the engine's own, live
CAMPAIGN_STATES = web.AppKey("campaign_states", CampaignRunStates)
MESSAGES = web.AppKey("messages", MessageService)
PAYMENTS = web.AppKey("payments", PaymentService)  # absent without [payments]
ONE_OFF_CALLS = web.AppKey("one_off_calls", OneOffCalls)
OUTBOUND = web.AppKey("outbound_gate", OutboundGate)
RECORDER = web.AppKey("recorder", CallRecorder)
SUPERVISION = web.AppKey("supervision", SupervisionService)
PARTIES = web.AppKey("third_parties", ThirdParties)
CONNECTOR = web.AppKey("agent_connector", AgentConnector)  # ends an agent's call
ROOMS = web.AppKey("rooms", RoomService)
INVITATIONS = web.AppKey("room_invitations", InvitationService)
HUB = web.AppKey("notification_hub", NotificationHub)
FEED = web.AppKey("floor_feed", FloorFeed)
# aiohttp 3.14 adds typed request keys; older releases take a plain string.
AGENT = web.RequestKey("agent", AgentRow) if hasattr(web, "RequestKey") else "agent"
# The browser session a request came with (none for bearer tokens).
SESSION = (
    web.RequestKey("browser_session", BrowserSession)
    if hasattr(web, "RequestKey")
    else "browser_session"
)
SUPERVISORS = ("supervisor", "admin")
ADMINS = ("admin",)
_REFUSALS = {SUPERVISORS: "supervisors only", ADMINS: "admins only"}


class Payload(BaseModel):
    """A JSON request body: unknown fields are refused, not ignored, and so is text holding a
    NUL character (PostgreSQL cannot store one)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value):
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("contains a NUL character")
        return value


def _plus_e164(value: str) -> str:
    if not value.strip().startswith("+"):
        raise ValueError("not a phone number in +E.164 form")
    try:
        return to_e164(value, "ZZ")  # with its +, the number names its own country
    except BadNumber as error:
        raise ValueError(str(error)) from None


# A phone number in a request body: international form only, normalised to E.164.
PlusE164 = Annotated[str, AfterValidator(_plus_e164)]


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


# Styled by the app's stylesheet (`body.page`): an inline <style> would be refused by the
# house policy (style-src 'self'), and the page would show unstyled.
_HTML_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<link rel="stylesheet" href="/static/app.css"></head>
<body class="page"><h1>{title}</h1>{body}</body></html>"""


def html_page(title: str, body: str, status: int = 200) -> web.Response:
    """A small public page (an invitation, an opt-out): `title` is escaped here, `body` is
    HTML the caller has already escaped."""
    text = _HTML_PAGE.format(title=html.escape(title), body=body)
    return web.Response(text=text, content_type="text/html", status=status)


async def read_body(request: web.Request, model: type[Payload]) -> Payload | web.Response:
    """The body as `model`, or the 422 response that lists what is wrong with it."""
    try:
        return model.model_validate_json(await request.read() or b"{}")
    except ValidationError as error:
        problems = [
            {"field": ".".join(map(str, e["loc"])), "problem": e["msg"]} for e in error.errors()
        ]
        return web.json_response({"errors": problems}, status=422)


def require_role(request: web.Request, roles: tuple[str, ...] = SUPERVISORS) -> web.Response | None:
    """None when the caller's role is one of `roles` (supervisors and admins unless told),
    else the 403 to answer with: `if denied := require_role(request): return denied`."""
    if request[AGENT].role in roles:
        return None
    return error_response(403, _REFUSALS.get(roles, "not allowed for your role"))


async def audit(request: web.Request, action: str, target: str) -> None:
    """The caller's action on record if he is a supervisor (`SupervisionService.record_action`)."""
    await request.app[SUPERVISION].record_action(request[AGENT], action, target)
