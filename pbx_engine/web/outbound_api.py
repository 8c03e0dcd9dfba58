"""The API of who may make the PBX dial out: the record of external dials, and disabling an
agent (admins).

    GET  /outbound/dials                    every external dial asked for, newest first
                                            (supervisors; `?invitation=ID` for one link's)
    POST /admin/agents/{login}/disable      his token, sessions and invitation links end,
                                            and he is logged out of the engine (admins)
    POST /admin/agents/{login}/enable       he may be given a token or sign in again (admins)
    POST /admin/agents                      add or update an agent with his softphone account:
                                            its SIP password and his API token, shown once
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from aiohttp import web
from pydantic import Field

from pbx_engine.agents.accounts import NewAgent
from pbx_engine.text import SingleLineText
from pbx_engine.web.common import (
    ACCESS,
    ADMINS,
    AGENT,
    CONFIG,
    OUTBOUND,
    Payload,
    audit,
    error_response,
    read_body,
    require_role,
)

# As `pbx_engine.agents.softphones` checks it; here too, so a bad name is a 422 on the field.
ENDPOINT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class NewAgentPayload(Payload):
    """`endpoint`: his softphone's PJSIP endpoint (default: the one he has, else the login),
    made by the engine;
    `existing_endpoint`: one written in Asterisk's files, used as it is; `softphone` false:
    none at all."""

    login: SingleLineText = Field(min_length=1, max_length=100)
    name: SingleLineText | None = Field(None, max_length=200)
    team: SingleLineText | None = Field(None, max_length=100)
    role: Literal["agent", "supervisor", "admin"] = "agent"
    endpoint: str | None = Field(None, pattern=ENDPOINT_PATTERN)
    existing_endpoint: bool = False
    softphone: bool = True


async def outbound_dials(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    try:
        limit = min(int(request.query.get("limit", "200")), 1000)
    except ValueError:
        return error_response(422, "limit: not a number")
    dials = await request.app[OUTBOUND].dials(max(limit, 1), request.query.get("invitation"))
    return web.json_response([d.as_json() for d in dials])


async def agent_access(request: web.Request) -> web.Response:
    if denied := require_role(request, ADMINS):
        return denied
    access, login = request.app[ACCESS], request.match_info["login"]
    action = request.match_info["action"]
    if action == "disable":
        disabled = await access.disable(request[AGENT], login)  # 409 himself, 404 unknown
        await audit(request, "agent_disable", login)
        return web.json_response(
            {
                "disabled": login,
                "sessions_closed": disabled.sessions_closed,
                "links_revoked": disabled.links_revoked,
            }
        )
    if action == "enable":
        await access.enable(login)  # 404: no disabled agent with that login
        await audit(request, "agent_enable", login)
        return web.json_response({"enabled": login})
    return error_response(404, f"no agent access action {action!r}")


async def add_agent(request: web.Request) -> web.Response:
    if denied := require_role(request, ADMINS):
        return denied
    payload = await read_body(request, NewAgentPayload)
    if isinstance(payload, web.Response):
        return payload
    access = request.app[ACCESS]
    agent = NewAgent(
        payload.login,
        payload.name or payload.login,
        team=payload.team,
        role=payload.role,
        endpoint=payload.endpoint,
        existing_endpoint=payload.existing_endpoint,
        softphone=payload.softphone,
    )
    issued = await access.add(agent)  # 409: refused, nothing stored; 503: no Asterisk
    await audit(request, "agent_add", payload.login)
    days = request.app[CONFIG].web.token_lifetime_days
    token = await access.issue_token(payload.login, timedelta(days=days))
    body: dict[str, object] = {"login": payload.login, "endpoint": None, "sip_password": None}
    for account in issued:  # password None: his account kept, password unchanged
        body["endpoint"], body["sip_password"] = account.endpoint, account.password
    if token is not None:
        body["token"], body["token_expires_at"] = token.token, token.expires_at.isoformat()
    return web.json_response(body, status=201)


def add_outbound_routes(app: web.Application) -> None:
    app.router.add_get("/outbound/dials", outbound_dials)
    app.router.add_post("/admin/agents", add_agent)
    app.router.add_post("/admin/agents/{login}/{action}", agent_access)
