"""Browsers on the real engine: sign-in with a password, the session cookie and its CSRF token,
the notices websocket (an agent sees only his own), the audit of supervisors' actions."""

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp.test_utils import TestServer

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.engine import Engine
from pbx_engine.notify import Notice
from pbx_engine.signin.passwords import hash_password, verify_password
from pbx_engine.web.api import build_app

PASSWORD = "a long enough secret"


def browser(api: str, *, cookies: bool = True) -> aiohttp.ClientSession:
    """A client that behaves like a browser on our page: it names the page's origin."""
    jar = aiohttp.CookieJar(unsafe=True) if cookies else None
    return aiohttp.ClientSession(cookie_jar=jar, headers={"Origin": api.rstrip("/")})


async def signed_in(engine: Engine, api: str, login: str, role: str) -> tuple:
    """A browser-like client session signed in as `login`, and its CSRF token."""
    await engine.storage.agents.upsert_agent(login, login.title(), role=role)
    await engine.storage.sessions.set_password(login, hash_password(PASSWORD, n=2**10))
    http = browser(api)
    async with http.post(f"{api}/signin", json={"login": login, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        body = await r.json()
        cookie = r.cookies["pbx_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
    return http, body["csrf_token"]


async def test_given_a_wrong_password_or_unknown_login_when_signing_in_then_401(
    api, connected_engine: Engine
):
    await connected_engine.storage.agents.upsert_agent("olga", "Olga")
    await connected_engine.storage.sessions.set_password("olga", hash_password(PASSWORD, n=2**10))
    async with browser(api, cookies=False) as http:
        for login, password in (("olga", "wrong password"), ("nobody", PASSWORD)):
            async with http.post(f"{api}/signin", json={"login": login, "password": password}) as r:
                assert r.status == 401
                assert await r.json() == {"error": "wrong login or password"}
        for _ in range(4):  # five failures in all for olga: the sixth try waits
            async with http.post(f"{api}/signin", json={"login": "olga", "password": "x"}) as r:
                assert r.status == 401
        async with http.post(f"{api}/signin", json={"login": "olga", "password": PASSWORD}) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) > 0
        async with http.get(f"{api}/signin") as r:  # pages are public; their data is not
            assert r.status == 200 and "text/html" in r.content_type
        async with http.get(f"{api}/signin/session") as r:
            assert r.status == 401


async def test_given_a_browser_session_when_changing_state_then_the_csrf_token_is_required(
    api, connected_engine: Engine
):
    http, csrf = await signed_in(connected_engine, api, "carla", "agent")
    async with http:
        async with http.get(f"{api}/agents/me") as r:
            assert r.status == 200 and (await r.json())["login"] == "carla"
        async with http.post(f"{api}/agents/me/ready") as r:
            assert r.status == 403
            assert await r.json() == {"error": "missing or wrong CSRF token"}
        async with http.post(f"{api}/agents/me/ready", headers={"X-CSRF-Token": "x"}) as r:
            assert r.status == 403
        async with http.post(f"{api}/agents/me/ready", headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 409  # past the CSRF check: he is simply not logged in
        async with http.get(f"{api}/signin/session") as r:
            assert (await r.json())["csrf_token"] == csrf
        ws = await http.ws_connect(f"{api}/ws")
        assert (await ws.receive_json(timeout=5))["kind"] == "snapshot"
        async with http.post(f"{api}/signout", headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
        closing = await ws.receive(timeout=5)  # the open tab stops receiving notices
        assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 4001)
        await ws.close()
        async with http.get(f"{api}/agents/me") as r:
            assert r.status == 401


async def test_given_an_agent_and_a_supervisor_on_the_websocket_then_each_sees_his_notices(
    api, connected_engine: Engine
):
    engine = connected_engine
    agent_http, _ = await signed_in(engine, api, "dora", "agent")
    boss_http, boss_csrf = await signed_in(engine, api, "bert", "supervisor")
    await engine.add_campaign(
        CampaignConfig(name="ws-test", dial_mode="progressive", compliance="plain")
    )
    async with agent_http, boss_http:
        async with (
            agent_http.ws_connect(f"{api}/ws") as agent_ws,
            boss_http.ws_connect(f"{api}/ws") as boss_ws,
        ):
            snapshot = await agent_ws.receive_json(timeout=5)
            assert snapshot["kind"] == "snapshot"
            assert snapshot["data"]["me"]["login"] == "dora"
            assert "agents" not in snapshot["data"]  # the floor is for supervisors
            board = await boss_ws.receive_json(timeout=5)
            assert any(c["name"] == "ws-test" for c in board["data"]["campaigns"])

            # Supervisor starts the campaign from his browser: on record, and on the board.
            async with boss_http.post(
                f"{api}/campaigns/ws-test/pause", headers={"X-CSRF-Token": boss_csrf}
            ) as r:
                assert r.status == 200
            while (notice := await boss_ws.receive_json(timeout=5))["kind"] != "campaigns":
                pass
            [paused] = [c for c in notice["data"]["campaigns"] if c["name"] == "ws-test"]
            assert paused["state"] == "paused"

            # A notice about another agent never reaches dora; one about her does.
            engine.hub.publish(Notice("agent", {"login": "zed"}, agent="zed"))
            engine.hub.publish(Notice("agent", {"login": "dora"}, agent="dora"))
            mine = await agent_ws.receive_json(timeout=5)
            assert mine["data"]["login"] == "dora"
    actions = await engine.storage.supervision.supervisor_actions()
    assert any(a.action == "campaign_pause" and a.target == "ws-test" for a in actions)
    engine.campaigns["ws-test"].stop()


async def test_given_a_websocket_from_another_site_when_connecting_then_403(
    api, connected_engine: Engine
):
    http, _ = await signed_in(connected_engine, api, "erik", "agent")
    async with http:
        try:
            await http.ws_connect(f"{api}/ws", headers={"Origin": "http://evil.example"})
        except aiohttp.WSServerHandshakeError as error:
            assert error.status == 403
        else:
            raise AssertionError("a foreign page opened the websocket")


async def test_given_an_open_websocket_when_the_server_shuts_down_then_the_browser_is_told(
    connected_engine: Engine,
):
    server = TestServer(build_app(connected_engine), host="127.0.0.1")
    await server.start_server()
    api = str(server.make_url("")).rstrip("/")
    http, _ = await signed_in(connected_engine, api, "fred", "agent")
    async with http:
        ws = await http.ws_connect(f"{api}/ws")
        assert (await ws.receive_json(timeout=5))["kind"] == "snapshot"
        await server.close()
        closing = await ws.receive(timeout=5)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert (closing.data, closing.extra) == (aiohttp.WSCloseCode.GOING_AWAY, "engine stopping")
        await ws.close()


async def test_given_the_cli_when_setting_a_password_then_it_verifies_and_sessions_end(
    database_dsn: str, storage, tmp_path
):
    config = tmp_path / "engine.toml"
    config.write_text(
        f'[ari]\nurl = "http://127.0.0.1:1"\nusername = "x"\n[database]\ndsn = "{database_dsn}"\n'
    )
    agent_id = await storage.agents.upsert_agent("gina", "Gina")
    await storage.sessions.open_browser_session(
        agent_id, "old-session", "csrf", datetime.now(UTC) + timedelta(hours=1)
    )

    async def set_password(login: str, typed: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "pbx_engine.cli", "agent", "password", login),
            *("--config", str(config)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(typed.encode() + b"\n"), 60)
        return process.returncode, (out + err).decode()

    code, said = await set_password("gina", "short")
    assert code == 2 and "at least 8" in said
    code, said = await set_password("nobody", PASSWORD)
    assert code == 1 and "no agent with login 'nobody'" in said
    code, said = await set_password("gina", PASSWORD)
    assert code == 0, said
    _, stored = await storage.sessions.password_hash("gina")
    assert stored.startswith("scrypt$") and verify_password(PASSWORD, stored)
    assert await storage.sessions.browser_session("old-session", datetime.now(UTC)) is None


async def test_given_a_session_about_to_expire_when_its_websocket_is_open_then_it_is_closed(
    api, connected_engine: Engine
):
    http, _ = await signed_in(connected_engine, api, "hugo", "agent")
    async with http:
        agent_id = (await connected_engine.storage.agents.get_agent("hugo")).id
        await connected_engine.storage.pool.execute(
            "UPDATE browser_sessions SET expires_at = now() + interval '1 second' "
            "WHERE agent_id = $1",
            agent_id,
        )
        ws = await http.ws_connect(f"{api}/ws")
        assert (await ws.receive_json(timeout=5))["kind"] == "snapshot"
        closing = await ws.receive(timeout=5)
        assert (closing.type, closing.data, closing.extra) == (
            aiohttp.WSMsgType.CLOSE,
            4001,
            "session expired",
        )
        await ws.close()
        async with http.get(f"{api}/agents/me") as r:
            assert r.status == 401


async def test_given_a_signed_in_agent_when_changing_his_password_then_old_one_and_others_end(
    api, connected_engine: Engine
):
    first, csrf = await signed_in(connected_engine, api, "hugo", "agent")
    second = browser(api)  # another browser
    async with second.post(f"{api}/signin", json={"login": "hugo", "password": PASSWORD}) as r:
        assert r.status == 200
    change = f"{api}/signin/password"
    new = "another long secret"
    async with first, second:
        ws = await second.ws_connect(f"{api}/ws")
        assert (await ws.receive_json(timeout=5))["kind"] == "snapshot"
        headers = {"X-CSRF-Token": csrf}
        async with first.post(change, json={"current": "wrong", "new": new}, headers=headers) as r:
            assert r.status == 403
        async with first.post(
            change, json={"current": PASSWORD, "new": "short"}, headers=headers
        ) as r:
            assert r.status == 422 and "at least 8" in (await r.json())["error"]
        async with first.post(change, json={"current": PASSWORD, "new": new}) as r:
            assert r.status == 403  # no CSRF token
        async with first.post(change, json={"current": PASSWORD, "new": new}, headers=headers) as r:
            assert r.status == 200 and (await r.json())["sessions_ended"] == 1
        closing = await ws.receive(timeout=5)  # the other browser stops at once
        assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 4001)
        await ws.close()
        async with second.get(f"{api}/agents/me") as r:
            assert r.status == 401
        async with first.get(f"{api}/agents/me") as r:
            assert r.status == 200  # the browser he changed it from goes on
    async with browser(api, cookies=False) as http:
        for password, status in ((PASSWORD, 401), (new, 200)):
            async with http.post(
                f"{api}/signin", json={"login": "hugo", "password": password}
            ) as r:
                assert r.status == status


async def test_given_a_password_set_from_the_command_line_then_open_pages_sign_out_soon(
    api, connected_engine: Engine, monkeypatch
):
    from pbx_engine.web import browser_api

    monkeypatch.setattr(browser_api, "SESSION_CHECK_EVERY", 0.2)  # a minute in production
    http, _ = await signed_in(connected_engine, api, "ivan", "agent")
    async with http, http.ws_connect(f"{api}/ws") as ws:
        assert (await ws.receive_json(timeout=5))["kind"] == "snapshot"
        # What `pbx-engine agent password` does, from another process: only the rows change.
        await connected_engine.storage.sessions.set_password("ivan", hash_password("brand new one"))
        closing = await ws.receive(timeout=5)
        assert (closing.type, closing.data, closing.extra) == (
            aiohttp.WSMsgType.CLOSE,
            4001,
            "session ended",
        )


async def test_given_the_cli_when_issuing_a_token_then_it_expires_after_the_days_asked(
    database_dsn: str, storage, tmp_path
):
    config = tmp_path / "engine.toml"
    config.write_text(
        f'[ari]\nurl = "http://127.0.0.1:1"\nusername = "x"\n[database]\ndsn = "{database_dsn}"\n'
    )
    await storage.agents.upsert_agent("kurt", "Kurt")
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "pbx_engine.cli", "agent", "token", "kurt", "--days", "2"),
        *("--config", str(config)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    token = out.decode().strip()
    assert "\n" not in token and err.decode().startswith("expires ")
    agent = await storage.agent_by_token(token)
    assert agent is not None and agent.login == "kurt"
    expiry = await storage.signin.token_expiry(agent.id)
    left = expiry - datetime.now(UTC)
    assert timedelta(days=2) - timedelta(minutes=5) < left <= timedelta(days=2)
    assert await storage.signin.agent_by_token(token, datetime.now(UTC) + timedelta(days=3)) is None
