"""Attacks on signing in and on sessions, tried against the real engine (its PostgreSQL, its
HTTP app): a flood of guesses at once, locking another agent out, login CSRF, the open redirect
after sign-in, a cookie without Secure, missing security headers, an expired API token, an
idle session, the typed login in the log. Each test serves its own app on the shared engine
(so its throttle starts empty) and signs out what it signed in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from pbx_engine.config import WebConfig
from pbx_engine.engine import Engine
from pbx_engine.signin.passwords import hash_password
from pbx_engine.web.api import build_app
from pbx_engine.web.edge import HASH_GATE
from pbx_engine.web.security import login_digest

PASSWORD = "a long enough secret"
DEVELOPMENT = WebConfig(mode="development")
Serve = Callable[[WebConfig], Awaitable[tuple[str, web.Application]]]


@pytest.fixture
async def serve(connected_engine: Engine) -> AsyncIterator[Serve]:
    """Starts the engine's app with the given `[web]` settings: its base URL and the app."""
    servers: list[TestServer] = []

    async def start(config: WebConfig) -> tuple[str, web.Application]:
        app = build_app(connected_engine, config)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/"), app

    yield start
    for server in servers:
        await server.close()


async def agent_with_password(engine: Engine, login: str) -> None:
    await engine.storage.agents.upsert_agent(login, login.title())
    await engine.storage.sessions.set_password(login, hash_password(PASSWORD, n=2**10))


def as_browser(base: str, **headers: str) -> dict[str, str]:
    return {"Origin": base, **headers}


async def sign_in(
    http: aiohttp.ClientSession, base: str, login: str, password: str, **extra: str
) -> aiohttp.ClientResponse:
    body = {"login": login, "password": password}
    headers = as_browser(base, **extra.pop("headers", {}))  # type: ignore[arg-type]
    async with http.post(f"{base}/signin", json=body | extra, headers=headers) as response:
        await response.read()
        return response


async def test_many_wrong_guesses_at_once_are_refused_before_the_password_hash(
    serve: Serve, connected_engine: Engine
):
    base, app = await serve(DEVELOPMENT)
    await agent_with_password(connected_engine, "flood-target")
    hashed_before = app[HASH_GATE].hashed
    connector = aiohttp.TCPConnector(limit=0)
    started = asyncio.get_running_loop().time()
    async with aiohttp.ClientSession(connector=connector) as http:
        responses = await asyncio.gather(
            *(sign_in(http, base, "flood-target", f"guess {i}") for i in range(200))
        )
    took = asyncio.get_running_loop().time() - started
    statuses = [r.status for r in responses]
    hashed = app[HASH_GATE].hashed - hashed_before
    print(f"200 concurrent wrong guesses: {hashed} password checks, {took:.2f} s in all")
    assert hashed <= 5
    assert statuses.count(401) == hashed
    assert set(statuses) <= {401, 429, 503}
    assert all(int(r.headers["Retry-After"]) > 0 for r in responses if r.status != 401)


async def test_a_flood_of_sign_ins_from_many_addresses_is_turned_away_past_the_hash_gate(
    serve: Serve,
):
    """Each address is new, so the throttle lets every try through: the gate alone keeps the
    password checks to a few at once, and turns the rest away at once."""
    config = WebConfig(
        mode="development",
        trusted_proxies=["127.0.0.1/32"],
        signin_concurrent_hashes=2,
        signin_queued_hashes=4,
    )
    base, app = await serve(config)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        responses = await asyncio.gather(
            *(
                sign_in(
                    http,
                    base,
                    f"nobody-{i}",  # unknown logins cost a full hash too
                    "guess",
                    headers={"X-Forwarded-For": f"198.18.{i // 250}.{i % 250 + 1}"},
                )
                for i in range(200)
            )
        )
    statuses = [r.status for r in responses]
    gate = app[HASH_GATE]
    print(
        f"200 sign-ins from 200 addresses: {statuses.count(503)} turned away, "
        f"{gate.hashed} checked, at most {gate.peak} at once"
    )
    assert gate.peak <= 2
    assert set(statuses) <= {401, 503} and statuses.count(503) > 0
    assert statuses.count(401) == gate.hashed
    assert all(r.headers["Retry-After"] == "1" for r in responses if r.status == 503)


async def test_locking_another_agent_out_from_other_addresses_is_refused(
    serve: Serve, connected_engine: Engine
):
    """A guesser at many addresses (behind a trusted proxy, which reports them) fails at
    vera's login past its limit; vera at her own address still signs in."""
    config = WebConfig(mode="development", trusted_proxies=["127.0.0.1/32"], signin_per_login=10)
    base, _ = await serve(config)
    await agent_with_password(connected_engine, "vera")

    def at(address: str) -> dict[str, dict[str, str]]:
        return {"headers": {"X-Forwarded-For": address}}

    async with aiohttp.ClientSession() as guesser:
        for i in range(12):  # past vera's limit from every address
            r = await sign_in(guesser, base, "vera", f"guess {i}", **at(f"198.51.100.{i}"))
            assert r.status == 401
        for _ in range(10):  # the first guessing address is stopped at once, its pair limit too
            r = await sign_in(guesser, base, "vera", "again", **at("198.51.100.0"))
            assert r.status == 429
        # even the right password from a guessing address waits
        assert (await sign_in(guesser, base, "vera", PASSWORD, **at("198.51.100.0"))).status == 429
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as vera:
        r = await sign_in(vera, base, "vera", PASSWORD, **at("192.0.2.10"))
        assert r.status == 200
        async with vera.get(f"{base}/signin/session") as session:
            assert session.status == 200
            token = (await session.json())["csrf_token"]
        async with vera.post(f"{base}/signout", headers={"X-CSRF-Token": token}) as out:
            assert out.status == 200


async def test_one_address_spraying_many_logins_is_refused_but_others_sign_in(
    serve: Serve, connected_engine: Engine
):
    config = WebConfig(mode="development", trusted_proxies=["127.0.0.1/32"], signin_per_address=8)
    base, _ = await serve(config)
    await agent_with_password(connected_engine, "walt")
    spray = {"headers": {"X-Forwarded-For": "203.0.113.66"}}
    async with aiohttp.ClientSession() as http:
        for i in range(8):
            assert (await sign_in(http, base, f"user{i}", "Summer2026!", **spray)).status == 401
        assert (await sign_in(http, base, "walt", "Summer2026!", **spray)).status == 429
        mine = {"headers": {"X-Forwarded-For": "192.0.2.11"}}
        assert (await sign_in(http, base, "walt", PASSWORD, **mine)).status == 200


async def test_login_csrf_from_a_foreign_page_or_a_form_is_refused(
    serve: Serve, connected_engine: Engine
):
    base, _ = await serve(DEVELOPMENT)
    await agent_with_password(connected_engine, "xena")
    body = {"login": "xena", "password": PASSWORD}
    async with aiohttp.ClientSession() as http:
        for headers in ({"Origin": "http://evil.example"}, {}, {"Origin": "null"}):
            async with http.post(f"{base}/signin", json=body, headers=headers) as r:
                assert r.status == 403, headers
                assert "pbx_session" not in r.cookies
        form = {"Origin": base}
        async with http.post(f"{base}/signin", data=body, headers=form) as r:  # a form post
            assert r.status == 415 and "pbx_session" not in r.cookies
        as_text = {"Origin": base, "Content-Type": "text/plain"}  # <form enctype=text/plain>
        async with http.post(f"{base}/signin", data='{"login": "xena"}', headers=as_text) as r:
            assert r.status == 415


@pytest.mark.parametrize(
    "target",
    [
        "/\\evil.example",
        "//evil.example",
        "/%5Cevil.example",
        "/%5cevil.example",
        "https://evil.example/",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(document.cookie)",
    ],
)
async def test_an_open_redirect_after_sign_in_is_refused(
    serve: Serve, connected_engine: Engine, target: str
):
    base, _ = await serve(DEVELOPMENT)
    await agent_with_password(connected_engine, "yuri")
    async with aiohttp.ClientSession() as http:
        r = await sign_in(http, base, "yuri", PASSWORD, next=target)
        assert r.status == 200
        async with http.post(
            f"{base}/signin",
            json={"login": "yuri", "password": PASSWORD, "next": target},
            headers=as_browser(base),
        ) as again:
            assert (await again.json())["home"] == "/desk/"
        kept = await http.post(
            f"{base}/signin",
            json={"login": "yuri", "password": PASSWORD, "next": "/reports/?per=agent"},
            headers=as_browser(base),
        )
        assert (await kept.json())["home"] == "/reports/?per=agent"


async def test_a_session_cookie_without_secure_outside_development_is_refused(
    serve: Serve, connected_engine: Engine
):
    """Production mode (the default): the cookie is Secure even on the plain HTTP between
    proxy and engine, and every response carries the security headers."""
    base, _ = await serve(WebConfig())
    await agent_with_password(connected_engine, "zoe")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/signin", json={"login": "zoe", "password": PASSWORD}, headers=as_browser(base)
        ) as r:
            assert r.status == 200
            cookie = r.cookies["pbx_session"]
            assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict"
        for path in ("/signin", "/static/app.css", "/agents/me", "/no-such-page"):
            async with http.get(f"{base}{path}") as r:
                csp = r.headers["Content-Security-Policy"]
                assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert r.headers["Referrer-Policy"] == "same-origin"
                # plain HTTP from a peer that is no trusted proxy: no HSTS
                assert "Strict-Transport-Security" not in r.headers
        spoofed = {"X-Forwarded-Proto": "https"}  # said by the client itself: not believed
        async with http.get(f"{base}/signin", headers=spoofed) as r:
            assert "Strict-Transport-Security" not in r.headers


async def test_an_expired_api_token_is_refused_and_a_rotated_one_replaces_it(
    api: str, connected_engine: Engine
):
    storage = connected_engine.storage
    await storage.agents.upsert_agent("tokyo", "Tokyo")
    expired = await storage.issue_agent_token("tokyo", lifetime=timedelta(seconds=-1))
    async with aiohttp.ClientSession() as http:
        bearer = {"Authorization": f"Bearer {expired}"}
        async with http.get(f"{api}/agents/me", headers=bearer) as r:
            assert r.status == 401 and await r.json() == {"error": "unknown or expired token"}
        current = await storage.issue_agent_token("tokyo")
        bearer = {"Authorization": f"Bearer {current}"}
        async with http.get(f"{api}/agents/me/token", headers=bearer) as r:
            assert r.status == 200 and (await r.json())["expires_at"]
        async with http.post(f"{api}/agents/me/token", headers=bearer) as r:
            assert r.status == 201
            rotated = await r.json()
        async with http.get(f"{api}/agents/me", headers=bearer) as r:
            assert r.status == 401  # the old token stopped at once
        new = {"Authorization": f"Bearer {rotated['token']}"}
        async with http.get(f"{api}/agents/me", headers=new) as r:
            assert r.status == 200 and (await r.json())["login"] == "tokyo"


async def test_an_idle_browser_session_is_ended(serve: Serve, connected_engine: Engine):
    base, _ = await serve(WebConfig(mode="development", session_idle_minutes=30))
    await agent_with_password(connected_engine, "ulla")
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        assert (await sign_in(http, base, "ulla", PASSWORD)).status == 200
        async with http.get(f"{base}/agents/me") as r:
            assert r.status == 200
        agent_id = (await connected_engine.storage.agents.get_agent("ulla")).id
        await connected_engine.storage.pool.execute(
            "UPDATE browser_sessions SET last_seen_at = now() - interval '31 minutes' "
            "WHERE agent_id = $1",
            agent_id,
        )
        async with http.get(f"{base}/agents/me") as r:
            assert r.status == 401
        left = await connected_engine.storage.pool.fetchval(
            "SELECT count(*) FROM browser_sessions WHERE agent_id = $1", agent_id
        )
        assert left == 0


async def test_a_password_typed_as_login_does_not_reach_the_log(
    serve: Serve, connected_engine: Engine
):
    base, _ = await serve(DEVELOPMENT)
    typed = "hunter2-my-real-password"
    async with aiohttp.ClientSession() as http:
        with capture_logs() as logs:
            assert (await sign_in(http, base, typed, "x")).status == 401
    refused = [e for e in logs if e["event"] == "signin.refused"]
    assert refused and refused[0]["login_sha256"] == login_digest(typed)
    assert not any(typed in repr(event) for event in logs)
