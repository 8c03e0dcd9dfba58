"""The HTTP API described for machines: an OpenAPI 3.1 document, served at `GET /openapi.json`.

`ROUTES` is the one table of every route the app serves: method, path (as the router has it),
who may call it, the body model, a summary and the main answers. The document is built from
that table and from the pydantic models the handlers check bodies with, so a body's rules are
described where they are enforced. A unit test holds the table to the app's router: a route
added without a line here fails it. The fuzz tests (tests/security/test_api_fuzz.py) read each
operation's `x-role` to check that nobody below it gets a 2xx.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from pbx_engine.signin import sessions
from pbx_engine.web.browser_api import PasswordPayload, SignInPayload
from pbx_engine.web.calls_api import (
    ModePayload,
    PartyPayload,
    SupervisePayload,
    TransferPayload,
)
from pbx_engine.web.messages_api import ConsentPayload, MessagePayload
from pbx_engine.web.outbound_api import NewAgentPayload
from pbx_engine.web.payloads import (
    CallPayload,
    DispositionPayload,
    GuestPayload,
    LoginPayload,
    PausePayload,
    PaymentPayload,
)
from pbx_engine.web.payments_api import StartPayload
from pbx_engine.web.rooms_api import DialPayload, InvitationPayload, RoomPayload
from pbx_engine.web.widget_api import WidgetCallbackPayload, WidgetCallPayload

OPENAPI_PATH = "/openapi.json"
JSON = "application/json"
HTML = "text/html"
FORM = "application/x-www-form-urlencoded"
SCHEMAS = "#/components/schemas/{model}"


class Role(StrEnum):
    """Who may call a route, lowest first; each role includes those above it."""

    PUBLIC = "public"  # anyone, no credentials
    AGENT = "agent"  # anyone signed in (agents, supervisors, admins); some act on their own only
    SUPERVISOR = "supervisor"  # supervisors and admins
    ADMIN = "admin"


_RANKS = {Role.PUBLIC: 0, Role.AGENT: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}


def may_call(caller: str | None, route_role: Role | str) -> bool:
    """Whether a caller (an agent's role, or None: no credentials) may get an answer from a
    route open to `route_role`."""
    rank = 0 if caller is None else max(_RANKS[Role.AGENT], _RANKS.get(Role(caller), 0))
    return rank >= _RANKS[Role(route_role)]


@dataclass(frozen=True)
class Answer:
    description: str
    media: tuple[str, ...] = (JSON,)  # empty: no body (a redirect, a websocket)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as registered with the router: `{name}` stands for one path segment
    role: Role
    summary: str
    answers: Mapping[int, Answer]
    body: type[BaseModel] | None = None
    body_media: str = JSON
    body_required: bool = True
    # JSON schemas of query parameters, and of path parameters narrower than "one segment".
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    path_values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Media of every answer not listed in `answers` (refusals, not found...); None: none.
    other_answers: tuple[str, ...] | None = (JSON,)


class UnsubscribeForm(BaseModel):
    """The opt-out: the page's button sends nothing; a mail program's one-click opt-out
    (RFC 8058) sends `List-Unsubscribe=One-Click`."""

    List_Unsubscribe: str | None = None


class JoinForm(BaseModel):
    """The invitation page's form (sent by a browser, not as JSON)."""

    number: str


def _one_of(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


_DATE = {"type": "string", "format": "date"}
_ME = Answer("the caller's own state (as `GET /agents/me`)")
_PAGE = {200: Answer("the page (static, no data in it)", (HTML,))}
_JOIN_ERRORS = {
    403: Answer("not a valid invitation", (HTML,)),
    410: Answer("expired, or its room is gone", (HTML,)),
}

ROUTES: tuple[Route, ...] = (
    # web.api
    Route(
        "GET",
        "/health",
        Role.PUBLIC,
        "Whether the process serves (liveness): always 200 while it does",
        {200: Answer("alive")},
    ),
    Route(
        "GET",
        "/ready",
        Role.PUBLIC,
        "Whether the engine can work (readiness): ARI websocket up and its Stasis app "
        "registered, the database writable, AMI logged in if configured",
        {200: Answer("ready"), 503: Answer("not ready: the checks, and which failed")},
    ),
    Route(
        "GET",
        OPENAPI_PATH,
        Role.PUBLIC,
        "This description of the API (OpenAPI 3.1)",
        {200: Answer("the OpenAPI document")},
    ),
    Route(
        "POST",
        "/calls",
        Role.SUPERVISOR,
        "A test call to a number (audited)",
        {
            202: Answer("the call is being placed: its channel id"),
            503: Answer("dialer closed, or calls cannot be written down now"),
        },
        body=CallPayload,
    ),
    Route(
        "GET",
        "/attempts/{channel_id}",
        Role.AGENT,
        "A call attempt (an agent sees only his own)",
        {200: Answer("the attempt"), 404: Answer("no such call (of yours)")},
    ),
    Route(
        "POST",
        "/calls/{channel_id}/disposition",
        Role.AGENT,
        "The outcome of a call: promise, callback, refusal... (the call's agent, supervisors)",
        {201: Answer("saved, with the case's next step"), 404: Answer("no call of yours")},
        body=DispositionPayload,
    ),
    Route("GET", "/agents/me", Role.AGENT, "The caller's state and current call", {200: _ME}),
    Route(
        "GET",
        "/agents/me/token",
        Role.AGENT,
        "When the caller's API token expires (not the token itself)",
        {200: Answer("the expiry")},
    ),
    Route(
        "POST",
        "/agents/me/token",
        Role.AGENT,
        "A new API token for the caller; the old one stops working at once",
        {201: Answer("the new token and its expiry")},
        body_required=False,
    ),
    Route(
        "POST",
        "/agents/me/preview",
        Role.AGENT,
        "Preview mode: the next case offered to the caller",
        {200: Answer("the offered case"), 404: Answer("no preview campaign or no case due")},
    ),
    Route(
        "POST",
        "/agents/me/preview/{step}",
        Role.AGENT,
        "Preview mode: dial or skip the offered case",
        {
            202: Answer("dialling: the channel id"),
            200: _ME,
            409: Answer("nothing offered"),
            503: Answer("calls cannot be written down now: the case is offered again later"),
        },
        path_values={"step": _one_of("dial", "skip")},
    ),
    Route(
        "POST",
        "/agents/me/login",
        Role.AGENT,
        "Log in: the caller's softphone (or with `phone: browser`, his desk's browser phone) "
        "is rung and kept as his shift's leg",
        {200: _ME, 409: Answer("logged in already, no phone, or no browser phone yet")},
        body=LoginPayload,
        body_required=False,
    ),
    Route(
        "POST",
        "/agents/me/browser-phone",
        Role.AGENT,
        "A browser phone for the caller's desk: a WebRTC endpoint with a new password, and the "
        "websocket to register through",
        {200: Answer("endpoint, password, realm, websocket"), 503: Answer("the PBX refused it")},
        body_required=False,
    ),
    Route(
        "DELETE",
        "/agents/me/browser-phone",
        Role.AGENT,
        "The caller's browser phone out of the PBX (logged out first if it was his leg)",
        {200: Answer("the endpoint withdrawn, or null")},
        body_required=False,
    ),
    Route(
        "POST",
        "/agents/me/{action}",
        Role.AGENT,
        "Get ready, pause (with a reason) or log out",
        {200: _ME, 409: Answer("not allowed in the agent's state")},
        body=PausePayload,
        body_required=False,  # only `pause` reads it
        path_values={"action": _one_of("ready", "pause", "logout")},
    ),
    Route(
        "GET",
        "/callbacks",
        Role.SUPERVISOR,
        "Callbacks by status",
        {200: Answer("the callbacks"), 422: Answer("unknown status")},
        query={"status": _one_of("pending", "missed", "done", "cancelled")},
    ),
    Route(
        "POST",
        "/cases/{case_id}/payments",
        Role.SUPERVISOR,
        "A payment reported by the creditor (audited)",
        {201: Answer("recorded: its id"), 404: Answer("no such case")},
        body=PaymentPayload,
        path_values={"case_id": {"type": "integer"}},
    ),
    Route(
        "GET",
        "/campaigns/{name}/split",
        Role.SUPERVISOR,
        "Champion against challenger: contact, right-party, promise and kept-promise rates, "
        "amount collected and cost per case, each with its 95% interval and a sentence",
        {200: Answer("the comparison"), 404: Answer("no such campaign, or no split")},
    ),
    Route(
        "GET",
        "/numbers",
        Role.SUPERVISOR,
        "Every caller-ID number: pool, use today, resting or not",
        {200: Answer("the numbers")},
    ),
    Route(
        "POST",
        "/numbers/reload",
        Role.SUPERVISOR,
        "Read the number-pools file again (audited)",
        {
            200: Answer("the pools now in use"),
            409: Answer("no pools file"),
            422: Answer("a bad file, with its line; the running pools stay"),
        },
    ),
    Route(
        "GET",
        "/campaigns",
        Role.SUPERVISOR,
        "Campaigns with their state, abandon rates and last 24 hours",
        {200: Answer("the campaigns")},
    ),
    Route(
        "POST",
        "/campaigns/{name}/{action}",
        Role.SUPERVISOR,
        "Start, pause or stop a campaign (audited)",
        {200: Answer("the campaign"), 404: Answer("no such campaign")},
        path_values={"action": _one_of("start", "pause", "stop")},
    ),
    # web.calls_api
    Route(
        "POST",
        "/agents/me/call/end",
        Role.AGENT,
        "End the caller's call: the debtor hears the campaign's keypad survey if it has one "
        "(else is hung up on) and the agent goes into wrap-up",
        {
            200: Answer("ended; `survey` says whether the debtor is taking one"),
            409: Answer("no call to end, or others still on it"),
        },
    ),
    Route(
        "POST",
        "/agents/me/call/transfer",
        Role.AGENT,
        "Hand the debtor on the caller's call over to a ready colleague",
        {200: Answer("handed over"), 409: Answer("colleague not ready, or no call")},
        body=TransferPayload,
    ),
    Route(
        "POST",
        "/agents/me/call/parties",
        Role.AGENT,
        "Dial a third party (a number or a colleague) into the caller's call",
        {201: Answer("the party is on the call"), 409: Answer("no call, or not reached")},
        body=PartyPayload,
    ),
    Route(
        "GET",
        "/agents/me/call/parties",
        Role.AGENT,
        "The third parties on the caller's call",
        {200: Answer("the parties")},
    ),
    Route(
        "DELETE",
        "/agents/me/call/parties/{party_id}",
        Role.AGENT,
        "Hang up a third party on the caller's call",
        {200: Answer("the party, gone"), 404: Answer("no such party")},
    ),
    Route(
        "POST",
        "/supervision",
        Role.SUPERVISOR,
        "Listen to, whisper to or barge into an agent's call (audited)",
        {201: Answer("the supervision session"), 404: Answer("no such agent or call")},
        body=SupervisePayload,
    ),
    Route(
        "GET",
        "/supervision",
        Role.SUPERVISOR,
        "Supervision sessions under way",
        {200: Answer("the sessions")},
    ),
    Route(
        "POST",
        "/supervision/mode",
        Role.SUPERVISOR,
        "Switch listen / whisper / barge during a session (audited)",
        {200: Answer("the session"), 404: Answer("not supervising")},
        body=ModePayload,
    ),
    Route(
        "DELETE",
        "/supervision",
        Role.SUPERVISOR,
        "End the caller's supervision session (audited)",
        {200: Answer("stopped"), 404: Answer("not supervising")},
    ),
    Route(
        "GET",
        "/supervision/log",
        Role.SUPERVISOR,
        "Every listen, whisper, barge and stop, newest first",
        {200: Answer("the log")},
    ),
    Route(
        "POST",
        "/calls/{channel_id}/recording/{action}",
        Role.AGENT,
        "Pause or resume a call's recording (the call's agent, supervisors)",
        {200: Answer("the recordings and whether paused"), 404: Answer("no such call of yours")},
        path_values={"action": _one_of("pause", "resume")},
    ),
    Route(
        "GET",
        "/attempts/{channel_id}/recordings",
        Role.AGENT,
        "A call's recordings, their pauses, and those that failed",
        {200: Answer("the recordings"), 404: Answer("no such call (of yours)")},
    ),
    Route(
        "GET",
        "/recordings/{name}",
        Role.AGENT,
        "A recording's audio (the call's agent, supervisors)",
        {
            200: Answer("the audio file", ("audio/wav",)),
            404: Answer("no such recording"),
            410: Answer("deleted at the end of its retention period"),
        },
    ),
    # web.rooms_api
    Route(
        "GET",
        "/rooms",
        Role.AGENT,
        "Every conference room, with how many are in it",
        {200: Answer("the rooms")},
    ),
    Route(
        "POST",
        "/rooms",
        Role.AGENT,
        "Make a conference room (the maker moderates it by default)",
        {201: Answer("the room"), 409: Answer("the name, extension or DID is taken")},
        body=RoomPayload,
    ),
    Route(
        "GET",
        "/rooms/{name}",
        Role.AGENT,
        "A room and its members",
        {200: Answer("the room"), 404: Answer("no such room")},
    ),
    Route(
        "DELETE",
        "/rooms/{name}",
        Role.AGENT,
        "Delete a room made through the API (its moderator, supervisors)",
        {200: Answer("deleted"), 403: Answer("not its moderator"), 404: Answer("no such room")},
    ),
    Route(
        "POST",
        "/rooms/{name}/dial",
        Role.AGENT,
        "Ring a number into a room (its moderator, supervisors)",
        {201: Answer("the member being called"), 403: Answer("not its moderator")},
        body=DialPayload,
    ),
    Route(
        "POST",
        "/rooms/{name}/members/{member}/{action}",
        Role.AGENT,
        "Mute, unmute or kick a member (the room's moderator, supervisors)",
        {200: Answer("the member"), 403: Answer("not its moderator"), 404: Answer("no such")},
        path_values={"action": _one_of("mute", "unmute", "kick")},
    ),
    Route(
        "POST",
        "/rooms/{name}/invitations",
        Role.AGENT,
        "A signed link to join a room (its moderator, supervisors)",
        {201: Answer("the link and when it expires"), 403: Answer("not its moderator")},
        body=InvitationPayload,
    ),
    Route(
        "GET",
        "/rooms/{name}/invitations",
        Role.AGENT,
        "A room's invitation links with their uses (its moderator, supervisors)",
        {200: Answer("the links"), 403: Answer("not its moderator")},
    ),
    Route(
        "DELETE",
        "/rooms/{name}/invitations/{id}",
        Role.AGENT,
        "Revoke an invitation link (its room's moderator, supervisors)",
        {200: Answer("revoked"), 404: Answer("no live link with that id in this room")},
    ),
    Route(
        "GET",
        "/rooms/{name}/actions",
        Role.SUPERVISOR,
        "Every action taken on a room (audit)",
        {200: Answer("the room's actions, newest first")},
    ),
    Route(
        "GET",
        "/outbound/dials",
        Role.SUPERVISOR,
        "Every external dial asked for, allowed or refused, newest first",
        {200: Answer("the dials")},
        query={
            "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
            "invitation": {"type": "string"},
        },
    ),
    Route(
        "POST",
        "/admin/agents",
        Role.ADMIN,
        "Add or update an agent with his softphone's PJSIP account (SIP password and API "
        "token shown once)",
        {
            201: Answer("login, endpoint, sip_password (null: kept), token"),
            409: Answer("refused: the endpoint is another agent's or in Asterisk's files"),
            503: Answer("Asterisk's ARI cannot be reached; nothing stored"),
        },
        body=NewAgentPayload,
    ),
    Route(
        "POST",
        "/admin/agents/{login}/{action}",
        Role.ADMIN,
        "Disable an agent (his token, sessions and links end) or enable him again",
        {200: Answer("done"), 404: Answer("no such agent"), 409: Answer("not yourself")},
        path_values={"action": _one_of("disable", "enable")},
    ),
    # web.messages_api
    Route(
        "POST",
        "/cases/{case_id}/messages",
        Role.SUPERVISOR,
        "Send the case's debtor a message from the templates (the consent ledger, the hours "
        "and the case's state apply; audited)",
        {
            201: Answer("on record: sent, refused (with the rule) or failed (with the reason)"),
            404: Answer("no such case"),
        },
        body=MessagePayload,
        path_values={"case_id": {"type": "integer"}},
    ),
    Route(
        "GET",
        "/cases/{case_id}/messages",
        Role.SUPERVISOR,
        "The case's messages, newest first, refused ones with their rule",
        {200: Answer("the messages"), 404: Answer("no such case")},
        path_values={"case_id": {"type": "integer"}},
    ),
    Route(
        "GET",
        "/cases/{case_id}/replies",
        Role.SUPERVISOR,
        "What the case's debtor sent back (SMS replies), newest first, with what each said "
        "about consent",
        {200: Answer("the replies"), 404: Answer("no such case")},
        path_values={"case_id": {"type": "integer"}},
    ),
    Route(
        "GET",
        "/surveys",
        Role.SUPERVISOR,
        "Satisfaction survey answers (scores 1 to 5 replied to survey templates) per agent and "
        "campaign, over the last `days`",
        {200: Answer("the results"), 422: Answer("days out of range")},
        query={"days": {"type": "integer", "minimum": 1, "maximum": 3660}},
    ),
    Route(
        "POST",
        "/consent",
        Role.SUPERVISOR,
        "A consent change on record (a written request entered by hand; audited)",
        {201: Answer("recorded: its id"), 404: Answer("no such case")},
        body=ConsentPayload,
    ),
    Route(
        "GET",
        "/consent",
        Role.SUPERVISOR,
        "The consent ledger, oldest first: the evidence",
        {200: Answer("the entries")},
        query={"address": {"type": "string"}},
    ),
    Route(
        "GET",
        "/unsubscribe/{token}",
        Role.PUBLIC,
        "The page an e-mail's opt-out link opens (the signed token is the permission)",
        {
            200: Answer("the page: one button", (HTML,)),
            403: Answer("not a valid link", (HTML,)),
        },
        other_answers=None,
    ),
    Route(
        "POST",
        "/unsubscribe/{token}",
        Role.PUBLIC,
        "Stop e-mails to the link's address (its page's button, or one-click opt-out)",
        {200: Answer("done", (HTML,)), 403: Answer("not a valid link", (HTML,))},
        body=UnsubscribeForm,
        body_media=FORM,
        body_required=False,
        other_answers=None,
    ),
    Route(
        "GET",
        "/sms/receipt/{token}",
        Role.PUBLIC,
        "The SMS gateway's delivery report for one message (the signed path it was given is "
        "the permission)",
        {
            200: Answer("noted (an empty answer)", ("text/plain",)),
            400: Answer("no report type"),
            403: Answer("not a path of ours"),
        },
        query={"status": {"type": "integer"}, "answer": {"type": "string"}},
    ),
    Route(
        "GET",
        "/sms/inbound",
        Role.PUBLIC,
        "A debtor's SMS from the gateway: kept with the message it answers; an opt-out keyword "
        "revokes texts to the number at once",
        {
            200: Answer("kept (an empty answer: nothing is sent back)", ("text/plain",)),
            400: Answer("no text"),
            403: Answer("wrong or missing token"),
        },
        query={
            "token": {"type": "string"},
            "from": {"type": "string"},
            "to": {"type": "string"},
            "text": {"type": "string"},
        },
    ),
    # web.payments_api (404 everywhere without [payments])
    Route(
        "GET",
        "/pay/{token}",
        Role.PUBLIC,
        "The payment page a debtor's link opens: what is owed, an amount (the promise due, "
        "else the balance) and the provider's card fields (the signed link is the permission)",
        {
            200: Answer("the page", (HTML,)),
            403: Answer("not a valid link, or expired", (HTML,)),
            # JSON when the path itself is refused (a NUL in it), before the handler
            404: Answer("payments are not set up", (HTML, JSON)),
        },
        other_answers=None,
    ),
    Route(
        "POST",
        "/pay/{token}/start",
        Role.PUBLIC,
        "Start a payment of `amount` at the provider: the client secret its script in the "
        "page finishes it with",
        {
            200: Answer("started"),
            403: Answer("not a valid link, or expired"),
            404: Answer("payments are not set up"),
            422: Answer("not an amount, or more than is owed"),
            502: Answer("the provider cannot be reached"),
        },
        body=StartPayload,
    ),
    Route(
        "GET",
        "/pay/{token}/done",
        Role.PUBLIC,
        "Back from the provider: the engine asks it how the payment stands and keeps it if it "
        "went through",
        {
            200: Answer("received, or did not go through", (HTML,)),
            403: Answer("not a valid link, or expired", (HTML,)),
            404: Answer("no such payment for this link, or payments are not set up", (HTML, JSON)),
            502: Answer("the provider cannot be reached", (HTML,)),
        },
        query={"payment_intent": {"type": "string"}},
        other_answers=None,
    ),
    Route(
        "POST",
        "/payments/webhook",
        Role.PUBLIC,
        "The provider's signed notice of a payment (Stripe's webhook; its signature is the "
        "permission): kept once, however often it comes",
        {
            200: Answer("taken (or an event the engine does not act on)"),
            400: Answer("not signed by the provider, or too old to believe"),
            404: Answer("payments are not set up"),
        },
    ),
    Route(
        "GET",
        "/join/{token}",
        Role.PUBLIC,
        "The invitation page (the signed token is the permission)",
        {200: Answer("the page: a form for the number to call", (HTML,)), **_JOIN_ERRORS},
        other_answers=None,
    ),
    Route(
        "POST",
        "/join/{token}",
        Role.PUBLIC,
        "Have the engine call a number into the invitation's room",
        {
            202: Answer("calling", (HTML,)),
            422: Answer("not a phone number", (HTML,)),
            **_JOIN_ERRORS,
        },
        body=JoinForm,
        body_media=FORM,
        other_answers=None,
    ),
    Route(
        "POST",
        "/join/{token}/browser",
        Role.PUBLIC,
        "A browser phone for the invitation page (it can only be rung into the room)",
        {
            200: Answer("endpoint, password, realm, websocket"),
            403: Answer("not a valid invitation", (HTML,)),
            410: Answer("expired, or its room is gone", (HTML,)),
            503: Answer("the PBX refused it"),
        },
        body_required=False,
    ),
    Route(
        "GET",
        "/join/{token}/sip",
        Role.PUBLIC,
        "The invitation page's SIP websocket (subprotocol `sip`), carried to the room's PBX",
        {
            101: Answer("switching to the websocket", ()),
            403: Answer("not a valid invitation, or not a browser this link made", (HTML, JSON)),
            410: Answer("expired, or its room is gone", (HTML,)),
        },
        query={"guest": {"type": "string"}},
        other_answers=None,
    ),
    Route(
        "POST",
        "/join/{token}/browser/ring",
        Role.PUBLIC,
        "Ring the page's browser phone into the invitation's room (a seat, a use of the link, "
        "the hourly caps)",
        {
            202: Answer("ringing"),
            403: Answer("not a valid invitation, or not a browser this link made", (HTML, JSON)),
            410: Answer("expired, used up, or its room is gone", (HTML, JSON)),
            409: Answer("the room is full"),
            429: Answer("the link or the address made too many calls this hour"),
        },
        body=GuestPayload,
    ),
    # web.widget_api (with [widget])
    Route(
        "GET",
        "/widget/",
        Role.PUBLIC,
        "The website widget: a call back form (`?case=` a signed case link)",
        {**_PAGE, 404: Answer("no [widget] on this engine", (HTML,))},
        query={"case": {"type": "string"}},
        other_answers=None,
    ),
    Route(
        "POST",
        "/widget/callback",
        Role.PUBLIC,
        "A debtor asks for a call back (from the widget's own page only)",
        {
            202: Answer("taken: the message to show"),
            403: Answer("not from the widget's page, or a forged or expired case link"),
            404: Answer("no case has this number, or no [widget] on this engine"),
            422: Answer("not a number, not the case's number, or a time out of range"),
            429: Answer("too many requests from this address, or for this number today"),
        },
        body=WidgetCallbackPayload,
    ),
    Route(
        "POST",
        "/widget/call",
        Role.PUBLIC,
        "Call us now: a browser phone for the widget's page (it can only be rung)",
        {
            200: Answer("endpoint, password, realm, websocket"),
            403: Answer("not from the widget's page, or a forged or expired case link"),
            404: Answer("no [widget] on this engine"),
            429: Answer("too many requests from this address"),
            503: Answer("the PBX refused it"),
        },
        body=WidgetCallPayload,
        body_required=False,
    ),
    Route(
        "GET",
        "/widget/sip",
        Role.PUBLIC,
        "The widget caller's SIP websocket (subprotocol `sip`), carried to the PBX",
        {101: Answer("switching to the websocket", ()), 403: Answer("not a phone the widget made")},
        query={"guest": {"type": "string"}},
        other_answers=None,
    ),
    Route(
        "POST",
        "/widget/call/ring",
        Role.PUBLIC,
        "Ring the widget caller's browser into the phone menu and the queue (an inbound call)",
        {
            202: Answer("ringing: the channel"),
            403: Answer("not from the widget's page, or not a phone the widget made"),
            404: Answer("no [widget] on this engine"),
            503: Answer("the call could not be made"),
        },
        body=GuestPayload,
    ),
    Route(
        "POST",
        "/cases/{case_id}/widget-link",
        Role.SUPERVISOR,
        "A signed link to the widget for a case's debtor, for the creditor's page",
        {201: Answer("the link and its expiry"), 404: Answer("no such case, or no [widget]")},
        body_required=False,
    ),
    # web.browser_api
    Route("GET", "/", Role.PUBLIC, "To the sign-in page", {302: Answer("to /signin", ())}),
    Route("GET", "/signin", Role.PUBLIC, "The sign-in page", _PAGE),
    Route(
        "POST",
        "/signin",
        Role.PUBLIC,
        "Open a browser session (an HttpOnly cookie); the answer holds its CSRF token",
        {
            200: Answer("signed in: who, the CSRF token, the home page"),
            401: Answer("wrong login or password"),
            429: Answer("too many failed attempts"),
        },
        body=SignInPayload,
    ),
    Route("GET", "/desk/", Role.PUBLIC, "The agent desktop page", _PAGE),
    Route("GET", "/wallboard/", Role.PUBLIC, "The supervisors' wallboard page", _PAGE),
    Route("GET", "/reports/", Role.PUBLIC, "The reports page", _PAGE),
    Route(
        "GET",
        "/signin/session",
        Role.AGENT,
        "Who is signed in, and the session's CSRF token",
        {200: Answer("who is signed in")},
    ),
    Route("POST", "/signout", Role.AGENT, "End the browser session", {200: Answer("signed out")}),
    Route(
        "POST",
        "/signin/password",
        Role.AGENT,
        "Change the caller's own password (the current one first); his other sessions end",
        {
            200: Answer("changed"),
            403: Answer("the current password is wrong"),
            422: Answer("the new password is too weak"),
            429: Answer("too many failed attempts"),
        },
        body=PasswordPayload,
    ),
    Route(
        "GET",
        "/ws",
        Role.AGENT,
        "The live notices websocket: a snapshot, then every change",
        {101: Answer("switching to the websocket", ())},
        other_answers=None,  # a request that is no websocket handshake is aiohttp's 400
    ),
    Route(
        "GET",
        "/phone/sip",
        Role.AGENT,
        "The browser phone's SIP websocket (subprotocol `sip`), carried to the PBX",
        {
            101: Answer("switching to the websocket", ()),
            409: Answer("no browser phone: POST /agents/me/browser-phone first"),
        },
        other_answers=None,
    ),
    Route(
        "GET",
        "/reports/daily",
        Role.AGENT,
        "Daily figures per campaign (supervisors) or per agent (an agent: his own)",
        {
            200: Answer("the figures", (JSON, "text/csv")),
            403: Answer("per campaign: supervisors only"),
            422: Answer("bad dates or period"),
        },
        query={
            "per": _one_of("campaign", "agent"),
            "from": _DATE,
            "to": _DATE,
            "format": _one_of("json", "csv"),
        },
    ),
    Route(
        "GET",
        "/supervisor-actions",
        Role.SUPERVISOR,
        "The audit log of supervisors' actions",
        {200: Answer("the log")},
    ),
    Route(
        "GET",
        "/static/{filename}",
        Role.PUBLIC,
        "The pages' scripts, styles and images",
        {200: Answer("the file", ("*/*",))},
        other_answers=None,
    ),
)

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
_PROBLEMS = {
    "type": "object",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
                "required": ["field", "problem"],
            },
        }
    },
    "required": ["errors"],
}
_PATH_PARAMETER = re.compile(r"\{(\w+)\}")
# What the router takes for one `{name}`: anything but a slash or a brace.
_SEGMENT = {"type": "string", "minLength": 1, "pattern": "^[^/{}]+$"}


def router_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route the app's router serves, in this table's spelling: the
    HEAD that aiohttp adds beside each GET left out, a static folder as `/prefix/{filename}`."""
    found = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is None:
            continue
        path = resource.canonical
        if isinstance(resource, web.StaticResource):
            path = f"{path}/{{filename}}"
        found.add((route.method, path))
    return {(m, p) for m, p in found if m != "HEAD" or ("GET", p) not in found}


class _BodySchemas(GenerateJsonSchema):
    """Pydantic's JSON schemas, with a decimal sent as a string described by its digits (an
    amount: at most 12 before the point and 2 after)."""

    def get_decimal_pattern(self, schema):
        return self.build_decimal_pattern(schema)


def _schema_of(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON schema by reference, it and the models it uses added to components."""
    schema = model.model_json_schema(ref_template=SCHEMAS, schema_generator=_BodySchemas)
    for name, nested in schema.pop("$defs", {}).items():
        if components.setdefault(name, nested) != nested:
            raise ValueError(f"two different body schemas are both named {name!r}")
    if components.setdefault(model.__name__, schema) != schema:
        raise ValueError(f"two different body models are both named {model.__name__!r}")
    return {"$ref": SCHEMAS.format(model=model.__name__)}


def _content(media: tuple[str, ...], schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {m: ({"schema": schema} if schema and m == JSON else {}) for m in media}


def _operation(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    names = _PATH_PARAMETER.findall(route.path)
    parameters = [
        {
            "name": n,
            "in": "path",
            "required": True,
            "schema": dict(route.path_values.get(n, _SEGMENT)),
        }
        for n in names
    ]
    parameters += [
        {"name": n, "in": "query", "required": False, "schema": dict(schema)}
        for n, schema in route.query.items()
    ]
    error = {"$ref": SCHEMAS.format(model="Error")}
    responses: dict[str, Any] = {}
    for status, answer in sorted(route.answers.items()):
        responses[str(status)] = {"description": answer.description}
        if answer.media:
            responses[str(status)]["content"] = _content(
                answer.media, error if status >= 400 else None
            )
    if route.role is not Role.PUBLIC:
        responses.setdefault("401", {"description": "no or unknown credentials"})
        responses["401"].setdefault("content", _content((JSON,), error))
    if route.role in (Role.SUPERVISOR, Role.ADMIN):
        responses.setdefault("403", {"description": f"{route.role.value}s only"})
        responses["403"].setdefault("content", _content((JSON,), error))
    operation: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "x-role": route.role.value,
        "security": [] if route.role is Role.PUBLIC else [{"bearer": []}, {"session": []}],
        "parameters": parameters,
        "responses": responses,
    }
    if route.body is not None:
        schema = _schema_of(route.body, components)
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {route.body_media: {"schema": schema}},
        }
        if route.body_media == JSON:
            problems = {"anyOf": [{"$ref": SCHEMAS.format(model="Problems")}, error]}
            responses.setdefault("422", {"description": "a malformed body: what is wrong"})
            responses["422"]["content"] = {JSON: {"schema": problems}}
    if route.other_answers is not None:
        responses["default"] = {
            "description": "refused: why",
            "content": _content(route.other_answers, error),
        }
    return operation


def _operation_id(route: Route) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", route.path).strip("_") or "root"
    return f"{route.method.lower()}_{words}"


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of `ROUTES` (built once; treat it as read-only)."""
    components: dict[str, Any] = {"Error": _ERROR, "Problems": _PROBLEMS}
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        operations = paths.setdefault(route.path, {})
        if route.method.lower() in operations:
            raise ValueError(f"{route.method} {route.path} is described twice")
        operations[route.method.lower()] = _operation(route, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pbx-engine",
            "version": "1",
            "description": (
                "Agents', supervisors' and browsers' HTTP API. Each operation's `x-role` says "
                "who may call it: public, agent (anyone signed in), supervisor (and admins), "
                'admin. Errors are JSON: `{"error": ...}`, or `{"errors": [...]}` for a '
                "malformed body."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": sessions.COOKIE},
            },
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document())


def add_openapi_route(app: web.Application) -> None:
    app.router.add_get(OPENAPI_PATH, openapi_json)
