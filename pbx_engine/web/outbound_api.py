"""The API of who may make the PBX dial out: the record of external dials, and disabling an
agent (admins).

    GET  /outbound/dials                    every external dial asked for, newest first
                                            (supervisors; `?invitation=ID` for one link's)
    POST /admin/agents/{login}/disable      his token, sessions and invitation links end,
                                            and he is logged out of the engine (admins)
    POST /admin/agents/{login}/enable       he may be given a token or sign in again (admins)
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import structlog
from aiohttp import web

from pbx_engine.agents.service import AgentError
from pbx_engine.agents.states import IllegalAgentTransition
from pbx_engine.storage.models import AgentRow
from pbx_engine.web.common import ADMINS, AGENT, ENGINE, audit, error_response, require_role

log = structlog.get_logger(__name__)


async def outbound_dials(request: web.Request) -> web.Response:
    if denied := require_role(request):
        return denied
    try:
        limit = min(int(request.query.get("limit", "200")), 1000)
    except ValueError:
        return error_response(422, "limit: not a number")
    dials = await request.app[ENGINE].storage.outbound.dials(
        max(limit, 1), invitation_id=request.query.get("invitation")
    )
    return web.json_response([d.as_json() for d in dials])


async def agent_access(request: web.Request) -> web.Response:
    if denied := require_role(request, ADMINS):
        return denied
    me: AgentRow = request[AGENT]
    engine, login = request.app[ENGINE], request.match_info["login"]
    action = request.match_info["action"]
    if action == "disable":
        if login == me.login:
            return error_response(409, "you cannot disable yourself")
        disabled = await engine.storage.agent_access.disable(login, datetime.now(UTC))
        if disabled is None:
            return error_response(404, "no enabled agent with that login")
        await audit(request, "agent_disable", login)
        status = engine.agents.status(login)
        if status is not None and status.state.value != "logged_out":
            with contextlib.suppress(AgentError, IllegalAgentTransition):
                await engine.agents.logout(login)
        log.warning(
            "agent.disabled",
            agent=login,
            sessions_closed=disabled.sessions_closed,
            links_revoked=disabled.links_revoked,
        )
        return web.json_response(
            {
                "disabled": login,
                "sessions_closed": disabled.sessions_closed,
                "links_revoked": disabled.links_revoked,
            }
        )
    if action == "enable":
        if not await engine.storage.agent_access.enable(login):
            return error_response(404, "no disabled agent with that login")
        await audit(request, "agent_enable", login)
        log.info("agent.enabled", agent=login)
        return web.json_response({"enabled": login})
    return error_response(404, f"no agent access action {action!r}")


def add_outbound_routes(app: web.Application) -> None:
    app.router.add_get("/outbound/dials", outbound_dials)
    app.router.add_post("/admin/agents/{login}/{action}", agent_access)
