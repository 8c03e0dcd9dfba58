"""Attacks on who may make the PBX dial out, and on conference rooms, tried on the real engine
and sandboxes: an invitation link flooded, premium-rate and satellite numbers asked for by
every way the engine dials out, an agent claiming the centre's DID, a disabled agent's token,
session and links, a caller ID the centre does not own. Each must be refused, and on record."""

import asyncio
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from ari_apps.outcomes import Outcome
from pbx_engine.agents.states import AgentState
from pbx_engine.conferences.room_service import RoomService
from pbx_engine.config import OutboundConfig, WebConfig
from pbx_engine.dialer.service import CallRequest
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnSandbox
from pbx_engine.outbound.gate import DialAsk, OutboundGate, OutboundRefused
from pbx_engine.outbound.policy import Purpose
from pbx_engine.web.api import build_app
from tests.waiting import eventually, now

PREMIUM, SATELLITE, NETWORK = "+19005550100", "+8816123456789", "+882123456789"
REFUSED_NUMBERS = [PREMIUM, SATELLITE, NETWORK]
GUEST = "+12025571400"  # a PSTN tone phone: answers and stays on
DEBTOR, AGENT_PHONE = "+12025570600", "+12025571000"
CENTRE_DID = "+12025551800"  # in the test config's room_dids


async def _headers(engine: Engine, login: str, role: str) -> dict[str, str]:
    await engine.storage.agents.upsert_agent(login, login.title(), role=role)
    return {"Authorization": f"Bearer {await engine.storage.issue_agent_token(login)}"}


@pytest.fixture
async def supervisor(connected_engine: Engine):
    headers = await _headers(connected_engine, "sam", "supervisor")
    async with aiohttp.ClientSession(headers=headers) as http:
        yield http


@pytest.fixture
async def room(connected_engine: Engine, api: str, supervisor: aiohttp.ClientSession):
    """A two-member room, deleted (its calls hung up) however the test ends."""
    async with supervisor.post(f"{api}/rooms", json={"name": "flood", "max_members": 2}) as r:
        assert r.status == 201, await r.text()
    yield "flood"
    if connected_engine.rooms.room("flood"):
        async with supervisor.delete(f"{api}/rooms/flood") as r:
            assert r.status == 200


async def _link(http: aiohttp.ClientSession, api: str, room: str, **body) -> dict:
    async with http.post(f"{api}/rooms/{room}/invitations", json=body) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def _refused_dials(engine: Engine, purpose: str, number: str) -> int:
    rows = await engine.storage.outbound.dials(1000)
    return sum(1 for r in rows if r.purpose == purpose and r.number == number)


async def test_invitation_link_flood_on_a_two_member_room_is_refused(
    connected_engine: Engine, api: str, supervisor: aiohttp.ClientSession, room: str
):
    engine = connected_engine
    link = await _link(supervisor, api, room, max_uses=20)

    async def join(browser: aiohttp.ClientSession) -> int:
        async with browser.post(link["url"], data={"number": GUEST}) as response:
            return response.status

    async with aiohttp.ClientSession() as browser:
        statuses = await asyncio.gather(*(join(browser) for _ in range(23)))
    rung = statuses.count(202)
    # At most the room's two seats ring; every other request is told the room is full.
    assert 1 <= rung <= 2, statuses
    assert set(statuses) <= {202, 409}
    await eventually(
        now(lambda: len(engine.rooms.members(room)) == rung),
        timeout=20,
        what="the rung guests to enter",
    )
    assert len(engine.rooms.members(room)) <= 2
    # The link counts the calls it caused, not the requests refused; all are on record.
    [row] = await engine.storage.invitations.of_room(room)
    assert row.uses == rung
    dials = await engine.storage.outbound.dials(1000, invitation_id=link["id"])
    assert sum(d.allowed for d in dials) == rung
    assert sum(d.reason == "room_full" for d in dials) == 23 - rung
    assert all(d.client_address == "127.0.0.1" for d in dials)


async def test_invitation_link_used_past_its_uses_is_refused(
    connected_engine: Engine, api: str, supervisor: aiohttp.ClientSession, room: str
):
    link = await _link(supervisor, api, room, max_uses=1)
    async with aiohttp.ClientSession() as browser:
        async with browser.post(link["url"], data={"number": GUEST}) as response:
            assert response.status == 202
        for _ in range(3):
            async with browser.post(link["url"], data={"number": GUEST}) as response:
                assert response.status == 410
                assert "used up" in await response.text()
        async with browser.get(link["url"]) as response:
            assert response.status == 410
    # Minting a link beyond the configured limits is refused too.
    async with supervisor.post(
        f"{api}/rooms/{room}/invitations", json={"max_uses": 10_000}
    ) as response:
        assert response.status == 422
    async with supervisor.post(
        f"{api}/rooms/{room}/invitations", json={"valid_seconds": 30 * 86400}
    ) as response:
        assert response.status == 422


async def test_invitation_link_revoked_or_of_a_recreated_room_is_refused(
    connected_engine: Engine, api: str, supervisor: aiohttp.ClientSession, room: str
):
    revoked = await _link(supervisor, api, room)
    async with supervisor.delete(f"{api}/rooms/{room}/invitations/{revoked['id']}") as response:
        assert response.status == 200
    old = await _link(supervisor, api, room)
    async with supervisor.delete(f"{api}/rooms/{room}") as response:
        assert response.status == 200
    async with supervisor.post(f"{api}/rooms", json={"name": room, "max_members": 2}) as r:
        assert r.status == 201
    async with aiohttp.ClientSession() as browser:
        for link in (revoked, old):
            async with browser.post(link["url"], data={"number": GUEST}) as response:
                assert response.status == 410, link
    assert connected_engine.rooms.members(room) == []
    async with supervisor.get(f"{api}/rooms/{room}/actions") as response:
        actions = [a["action"] for a in await response.json()]
    assert {"create", "delete", "invitation_minted", "invitation_revoked"} <= set(actions)


@pytest.mark.parametrize("number", REFUSED_NUMBERS)
async def test_premium_or_satellite_number_through_an_invitation_is_refused(
    connected_engine: Engine, api: str, supervisor: aiohttp.ClientSession, room: str, number
):
    link = await _link(supervisor, api, room, max_uses=1)
    async with aiohttp.ClientSession() as browser:
        async with browser.post(link["url"], data={"number": number}) as response:
            assert response.status == 403
        # Nothing rang, so the link's one use is still there for a real number.
        async with browser.post(link["url"], data={"number": GUEST}) as response:
            assert response.status == 202
    assert await _refused_dials(connected_engine, "invitation", number) >= 1


async def test_invitation_link_behind_the_reverse_proxy_counts_the_guest_not_the_proxy(
    connected_engine: Engine, api: str, supervisor: aiohttp.ClientSession, room: str
):
    """The per-address caps and the record count the guest's address: behind a trusted proxy
    the one it forwards, else the TCP peer's (a header from anyone else is not believed)."""
    link = await _link(supervisor, api, room, max_uses=1)
    path = URL(link["url"]).path
    behind_proxy = TestServer(
        build_app(connected_engine, WebConfig(mode="development", trusted_proxies=["127.0.0.1"])),
        host="127.0.0.1",
    )
    await behind_proxy.start_server()
    guest = f"198.51.100.{datetime.now(UTC).microsecond % 250 + 1}"
    try:
        async with aiohttp.ClientSession() as browser:
            for base in (str(behind_proxy.make_url("")).rstrip("/"), api):
                async with browser.post(
                    base + path, data={"number": PREMIUM}, headers={"X-Forwarded-For": guest}
                ) as response:
                    assert response.status == 403
    finally:
        await behind_proxy.close()
    dials = await connected_engine.storage.outbound.dials(1000, invitation_id=link["id"])
    assert [d.client_address for d in dials] == ["127.0.0.1", guest]  # newest first
    refusals = [
        a.client_address
        for a in await connected_engine.storage.outbound.room_actions(room)
        if (a.action, a.target) == ("invitation_refused", link["id"])
    ]
    assert sorted(refusals) == sorted([guest, "127.0.0.1"])


@pytest.mark.parametrize("number", REFUSED_NUMBERS)
async def test_premium_or_satellite_number_dialled_into_a_room_or_as_a_test_call_is_refused(
    connected_engine: Engine, api: str, supervisor: aiohttp.ClientSession, room: str, number
):
    engine = connected_engine
    async with supervisor.post(f"{api}/rooms/{room}/dial", json={"number": number}) as response:
        assert response.status == 403, await response.text()
        assert "may not be dialled" in (await response.json())["error"]
    async with supervisor.post(f"{api}/calls", json={"number": number}) as response:
        assert response.status == 403
    assert engine.rooms.members(room) == []
    assert await _refused_dials(engine, "room_dial", number) >= 1
    assert await _refused_dials(engine, "test_call", number) >= 1


@pytest.mark.parametrize("number", [PREMIUM, SATELLITE])
async def test_premium_or_satellite_number_in_a_campaign_is_refused_before_ringing(
    connected_engine: Engine, pstn_asterisk: PstnSandbox, number
):
    result = await asyncio.wait_for(
        connected_engine.dialer.call(CallRequest(number=number)), timeout=15
    )
    assert result.outcome is Outcome.FAILED
    assert "outbound policy" in result.hangup_cause_text
    attempt = await connected_engine.storage.attempts.get_attempt(result.channel_id)
    assert attempt.originated_at is None  # never rang
    assert await _refused_dials(connected_engine, "campaign", number) >= 1


@pytest.fixture
async def tina_on_a_call(connected_engine: Engine):
    """Agent tina (a PSTN tone phone) talking to a debtor (another one)."""
    engine = connected_engine
    await engine.storage.agents.upsert_agent("tina", "Tina", sip_endpoint=f"{AGENT_PHONE}@pstn")
    await engine.agents.login("tina")
    await engine.agents.reserve({"tina"})
    call = engine.dialer.place_call(CallRequest(number=DEBTOR, agent="tina"))
    try:
        await eventually(
            now(lambda: engine.agents.status("tina").state is AgentState.ON_CALL),
            timeout=15,
            what="the debtor to reach tina",
        )
        yield call
    finally:
        await engine.ari.hangup(call.channel_id)
        await asyncio.wait_for(call.task, timeout=10)
        await engine.agents.logout("tina")


async def test_premium_or_satellite_party_or_supervisor_leg_on_a_live_call_is_refused(
    connected_engine: Engine,
    api: str,
    supervisor: aiohttp.ClientSession,
    tina_on_a_call,
    pstn_asterisk: PstnSandbox,
):
    engine = connected_engine
    token = await engine.storage.issue_agent_token("tina")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as tina:
        for number in REFUSED_NUMBERS:
            async with tina.post(
                f"{api}/agents/me/call/parties", json={"number": number}
            ) as response:
                assert response.status == 403, await response.text()
            async with supervisor.post(
                f"{api}/supervision", json={"agent": "tina", "number": number}
            ) as response:
                assert response.status == 403, await response.text()
            assert await _refused_dials(engine, "party", number) >= 1
            assert await _refused_dials(engine, "supervisor", number) >= 1
    # The feature code `*1<number>#` passes the same gate.
    before = await _refused_dials(engine, "party", PREMIUM)
    await pstn_asterisk.press_keys(AGENT_PHONE, f"*1{PREMIUM[1:]}#")

    async def refused_again():
        return await _refused_dials(engine, "party", PREMIUM) > before

    await eventually(refused_again, timeout=15, what="the keyed premium number to be refused")
    assert not engine.parties.has_parties("tina")


async def test_agent_claiming_a_did_or_extension_for_his_room_is_refused(
    connected_engine: Engine, api: str, supervisor: aiohttp.ClientSession
):
    engine = connected_engine
    headers = await _headers(engine, "mallory", "agent")
    async with aiohttp.ClientSession(headers=headers) as mallory:
        for claim in ({"did": CENTRE_DID}, {"extension": "8099"}):
            async with mallory.post(f"{api}/rooms", json={"name": "mine", **claim}) as response:
                assert response.status == 403, claim
        assert engine.rooms.room("mine") is None
    # A supervisor may give a room only a DID of the admin's list.
    async with supervisor.post(
        f"{api}/rooms", json={"name": "mine", "did": "+12025550100"}
    ) as response:
        assert response.status == 403
        assert "not a DID" in (await response.json())["error"]
    assert engine.rooms.room("mine") is None


async def test_caller_id_not_of_the_pools_on_a_test_call_is_refused(
    connected_engine: Engine, api: str, supervisor: aiohttp.ClientSession
):
    for spoofed in ("+12025550123", "+442079460000", "anonymous"):
        async with supervisor.post(
            f"{api}/calls", json={"number": GUEST, "caller_id": spoofed}
        ) as response:
            assert response.status == 422, spoofed
            assert "caller-ID pools" in (await response.json())["error"]
    # The configured default passes that check (and the premium number is then refused).
    async with supervisor.post(
        f"{api}/calls", json={"number": PREMIUM, "caller_id": "+12025550999"}
    ) as response:
        assert response.status == 403


async def test_disabled_agents_token_session_sign_in_and_links_are_refused(
    connected_engine: Engine, api: str, supervisor: aiohttp.ClientSession
):
    from pbx_engine.signin.passwords import hash_password

    engine = connected_engine
    login, password = "dora-disabled", "a long enough password"
    headers = await _headers(engine, login, "agent")
    await engine.storage.sessions.set_password(login, hash_password(password, n=2**10))
    admin = await _headers(engine, "ada", "admin")
    browser = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with (
        aiohttp.ClientSession(headers=headers) as dora,
        browser,
        aiohttp.ClientSession(headers=admin) as ada,
    ):
        signin = {"json": {"login": login, "password": password}, "headers": {"Origin": api}}
        async with browser.post(f"{api}/signin", **signin) as response:
            assert response.status == 200, await response.text()
        async with browser.get(f"{api}/agents/me") as response:
            assert response.status == 200
        async with dora.post(f"{api}/rooms", json={"name": "doras"}) as response:
            assert response.status == 201
        try:
            link = await _link(dora, api, "doras", valid_seconds=7 * 86400)
            async with ada.post(f"{api}/admin/agents/{login}/disable") as response:
                assert response.status == 200
                body = await response.json()
                assert body["sessions_closed"] == 1 and body["links_revoked"] == 1
            async with dora.get(f"{api}/agents/me") as response:
                assert response.status == 401
            async with browser.get(f"{api}/agents/me") as response:
                assert response.status == 401
            async with browser.post(f"{api}/signin", **signin) as response:
                assert response.status == 401
            async with aiohttp.ClientSession() as guest:
                async with guest.post(link["url"], data={"number": GUEST}) as response:
                    assert response.status == 410
            assert engine.rooms.members("doras") == []
            # Only admins disable; a supervisor cannot.
            async with supervisor.post(f"{api}/admin/agents/ada/disable") as response:
                assert response.status == 403
        finally:
            await engine.storage.agent_access.enable(login)
            async with supervisor.delete(f"{api}/rooms/doras") as response:
                assert response.status == 200


async def test_hourly_caps_per_address_and_per_agent_refuse_the_next_dial(
    connected_engine: Engine,
):
    # A gate of its own with low caps, on the real database (the session's config is loose).
    gate = OutboundGate(
        connected_engine.storage,
        OutboundConfig(per_address_per_hour=2, per_agent_per_hour=2),
        "US",
    )
    address = f"198.51.100.{datetime.now(UTC).microsecond % 250}"
    ask = DialAsk(Purpose.INVITATION, GUEST, invitation_id="cap-test", client_address=address)
    await asyncio.gather(gate.check(ask), gate.check(ask))
    with pytest.raises(OutboundRefused) as refused:
        await gate.check(DialAsk(Purpose.INVITATION, GUEST, client_address=address))
    assert (refused.value.status, refused.value.reason) == (429, "address_rate")
    # Refused asks count against the address too: hammering premium numbers slows it down.
    other = f"203.0.113.{datetime.now(UTC).microsecond % 250}"
    for _ in range(2):
        with pytest.raises(OutboundRefused):
            await gate.check(DialAsk(Purpose.INVITATION, PREMIUM, client_address=other))
    with pytest.raises(OutboundRefused) as refused:
        await gate.check(DialAsk(Purpose.INVITATION, GUEST, client_address=other))
    assert refused.value.reason == "address_rate"
    agent_id = await connected_engine.storage.agents.upsert_agent("capped", "Capped")
    results = await asyncio.gather(
        *(gate.check(DialAsk(Purpose.PARTY, GUEST, agent_id=agent_id)) for _ in range(5)),
        return_exceptions=True,
    )
    # Concurrent asks are decided one at a time: exactly the cap passes.
    assert sum(not isinstance(r, Exception) for r in results) == 2


async def test_rooms_made_through_the_api_survive_a_restart_with_their_pins_hashed(
    connected_engine: Engine, api: str, supervisor: aiohttp.ClientSession
):
    engine = connected_engine
    body = {"name": "kept", "pin": "4321", "moderator_pin": "8765"}
    async with supervisor.post(f"{api}/rooms", json=body) as response:
        assert response.status == 201
    try:
        [row] = [r for r in await engine.storage.rooms.stored_rooms() if r.name == "kept"]
        assert row.pin.startswith("scrypt$") and "4321" not in row.pin
        restarted = RoomService(engine.ari, engine.storage, [], trunk="pstn")
        await restarted.load()
        kept = restarted.room("kept")
        assert kept is not None and kept.stored and kept.pins_hashed

        # A room an agent gave the centre's number before DIDs were an admin's list: after
        # the upgrade, that number no longer reaches it.
        await engine.storage.pool.execute(
            "UPDATE conference_rooms SET did = '+12025550100', pin = '4321' WHERE name = 'kept'"
        )
        restarted = RoomService(
            engine.ari, engine.storage, [], trunk="pstn", allowed_dids=frozenset({CENTRE_DID})
        )
        await restarted.load()
        kept = restarted.room("kept")
        assert kept.did is None and restarted.room_for_number("+12025550100") is None
        [row] = [r for r in await engine.storage.rooms.stored_rooms() if r.name == "kept"]
        assert row.pin.startswith("scrypt$")  # the plain PIN was hashed on record
    finally:
        async with supervisor.delete(f"{api}/rooms/kept") as response:
            assert response.status == 200


async def test_agent_disabled_by_the_cli_keeps_no_token_session_or_link(
    database_dsn: str, storage, tmp_path
):
    import sys
    from datetime import timedelta

    config = tmp_path / "engine.toml"
    config.write_text(
        f'[ari]\nurl = "http://127.0.0.1:1"\nusername = "x"\n[database]\ndsn = "{database_dsn}"\n'
    )
    agent_id = await storage.agents.upsert_agent("eve", "Eve")
    token = await storage.issue_agent_token("eve")
    now = datetime.now(UTC)
    session = "eve-session-digest"
    await storage.sessions.open_browser_session(agent_id, session, "csrf", now + timedelta(hours=1))
    await storage.invitations.create("eves-link", "any", agent_id, now + timedelta(days=1), 5)

    async def cli(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "pbx_engine.cli", "agent", *args, "--config", str(config)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        return process.returncode, (out + err).decode()

    code, said = await cli("disable", "eve")
    assert code == 0 and "1 browser session(s) closed, 1 invitation link(s) revoked" in said
    assert await storage.agent_by_token(token) is None
    assert await storage.sessions.browser_session(session, now) is None
    assert await storage.sessions.password_hash("eve") is None  # sign-in finds no such agent
    assert await storage.invitations.use("eves-link", now) is None
    code, said = await cli("token", "eve")  # no new token for a disabled agent
    assert code == 1 and "disabled" in said
    assert (await cli("disable", "eve"))[0] == 1
    code, said = await cli("enable", "eve")
    assert code == 0
    code, said = await cli("token", "eve")
    token = said.splitlines()[0].strip()  # the token alone on its line; its expiry follows
    assert code == 0 and await storage.agent_by_token(token) is not None
    assert await storage.invitations.use("eves-link", now) is None  # links stay revoked
