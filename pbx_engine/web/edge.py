"""The HTTP tier's edge: the web settings on the app, who the client is (believing forwarded
headers only from configured proxies), and the security headers on every response."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from pbx_engine.config import WebConfig
from pbx_engine.signin.gate import HashGate
from pbx_engine.signin.throttle import SignInThrottle, ThrottleLimits
from pbx_engine.web.security import ClientView, client_view, security_headers

WEB = web.AppKey("web_config", WebConfig)
THROTTLE = web.AppKey("signin_throttle", SignInThrottle)
HASH_GATE = web.AppKey("signin_hash_gate", HashGate)
# aiohttp 3.14 adds typed request keys; older releases take a plain string.
_CLIENT = web.RequestKey("client_view", ClientView) if hasattr(web, "RequestKey") else "client_view"


def client(request: web.Request) -> ClientView:
    """The client's address and scheme, worked out once per request."""
    view = request.get(_CLIENT)
    if view is None:
        # aiohttp's `remote` and `secure` are the TCP peer and its TLS (no header believed).
        view = client_view(
            request.remote, request.headers, request.app[WEB].trusted_proxies, request.secure
        )
        request[_CLIENT] = view
    return view


def cookie_secure(request: web.Request) -> bool:
    """Always outside development mode; there, only when the request came over TLS."""
    return request.app[WEB].mode != "development" or client(request).https


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    # A handler that sets its own policy (the widget, framed by the creditors' sites) says who
    # may frame it there: X-Frame-Options, which can only say "nobody", is left out then.
    own_policy = "Content-Security-Policy" in response.headers
    for name, value in security_headers(client(request).https).items():
        if not (own_policy and name == "X-Frame-Options"):
            response.headers.setdefault(name, value)


def install_edge(app: web.Application, config: WebConfig) -> None:
    app[WEB] = config
    app[THROTTLE] = SignInThrottle(
        ThrottleLimits(
            per_login_and_address=config.signin_per_login_and_address,
            per_address=config.signin_per_address,
            per_login=config.signin_per_login,
            window=timedelta(seconds=config.signin_window_seconds),
            max_keys=config.signin_table_size,
        )
    )
    app[HASH_GATE] = HashGate(config.signin_concurrent_hashes, config.signin_queued_hashes)
    app.on_response_prepare.append(_add_security_headers)
