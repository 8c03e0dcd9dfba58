"""An agent's own API token.

    GET  /agents/me/token         when the caller's token expires (not the token itself)
    POST /agents/me/token         a new token for the caller, with a new expiry; the old one
                                  stops working at once (rotate before it expires)

Tokens are otherwise issued with `pbx-engine agent token LOGIN [--days N]`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from aiohttp import web

from pbx_engine.web.common import AGENT, STORAGE
from pbx_engine.web.edge import WEB

log = structlog.get_logger(__name__)


async def token_expiry(request: web.Request) -> web.Response:
    expires_at = await request.app[STORAGE].signin.token_expiry(request[AGENT].id)
    return web.json_response({"expires_at": expires_at.isoformat() if expires_at else None})


async def rotate_token(request: web.Request) -> web.Response:
    me = request[AGENT]
    lifetime = timedelta(days=request.app[WEB].token_lifetime_days)
    issued = await request.app[STORAGE].signin.rotate_token(me.id, datetime.now(UTC) + lifetime)
    log.info("agent.token_rotated", agent=me.login, expires_at=issued.expires_at.isoformat())
    return web.json_response(
        {"token": issued.token, "expires_at": issued.expires_at.isoformat()}, status=201
    )


def add_token_routes(app: web.Application) -> None:
    """Before `/agents/me/{action}`, which would otherwise take the path."""
    app.router.add_get("/agents/me/token", token_expiry)
    app.router.add_post("/agents/me/token", rotate_token)
