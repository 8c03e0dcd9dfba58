"""An agent's own API token.

    GET  /agents/me/token         when the caller's token expires (not the token itself)
    POST /agents/me/token         a new token for the caller, with a new expiry; the old one
                                  stops working at once (rotate before it expires)

Tokens are otherwise issued with `pbx-engine agent token LOGIN [--days N]`.
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from pbx_engine.web.common import AGENT, SIGNIN
from pbx_engine.web.edge import WEB


async def token_expiry(request: web.Request) -> web.Response:
    expires_at = await request.app[SIGNIN].token_expiry(request[AGENT])
    return web.json_response({"expires_at": expires_at.isoformat() if expires_at else None})


async def rotate_token(request: web.Request) -> web.Response:
    lifetime = timedelta(days=request.app[WEB].token_lifetime_days)
    issued = await request.app[SIGNIN].rotate_token(request[AGENT], lifetime)
    return web.json_response(
        {"token": issued.token, "expires_at": issued.expires_at.isoformat()}, status=201
    )


def add_token_routes(app: web.Application) -> None:
    """Before `/agents/me/{action}`, which would otherwise take the path."""
    app.router.add_get("/agents/me/token", token_expiry)
    app.router.add_post("/agents/me/token", rotate_token)
