"""The API of who may make the PBX dial out: the record of external dials, and disabling an
agent (admins).

    GET  /outbound/dials                    every external dial asked for, newest first
                                            (supervisors; `?invitation=ID` for one link's)
    POST /admin/agents/{login}/disable      his token, sessions and invitation links end,
                                            and he is logged out of the engine (admins)
    POST /admin/agents/{login}/enable       he may be given a token or sign in again (admins)
"""

from __future__ import annotations

from aiohttp import web

from pbx_engine.web.common import (
    ACCESS,
    ADMINS,
    AGENT,
    OUTBOUND,
    audit,
    error_response,
    require_role,
)


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


def add_outbound_routes(app: web.Application) -> None:
    app.router.add_get("/outbound/dials", outbound_dials)
    app.router.add_post("/admin/agents/{login}/{action}", agent_access)
