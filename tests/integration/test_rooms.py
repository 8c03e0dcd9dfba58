"""Named conference rooms on the real PBX: made through the API, entered by dialling the
room's number with its PIN (a wrong one refused), moderated, and joined from an invitation
link that expires."""

import asyncio

import aiohttp
import pytest

from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnSandbox
from tests.waiting import eventually

ROOM_DID = "+12025551800"
GUEST = "+12025571400"  # a PSTN tone phone: answers and stays on


@pytest.fixture
async def moderator(connected_engine: Engine, api: str):
    engine = connected_engine
    # Rooms with a DID or an extension are a supervisor's to make.
    await engine.storage.agents.upsert_agent("mona", "Mona", role="supervisor")
    headers = {"Authorization": f"Bearer {await engine.storage.issue_agent_token('mona')}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        yield http
        if engine.rooms.room("settlements"):
            async with http.delete(f"{api}/rooms/settlements") as response:
                assert response.status == 200


async def members(engine: Engine) -> list:
    return engine.rooms.members("settlements")


async def test_given_a_room_with_a_pin_when_callers_dial_in_then_only_the_right_pin_enters(
    connected_engine: Engine, api: str, moderator: aiohttp.ClientSession, pstn_asterisk: PstnSandbox
):
    engine = connected_engine
    room = {"name": "settlements", "did": ROOM_DID, "pin": "1234", "moderator_pin": "9999"}
    async with moderator.post(f"{api}/rooms", json=room) as response:
        assert response.status == 201, await response.text()
        assert (await response.json())["moderator"] == "mona"

    # Three wrong PINs: refused and hung up on, never in the room.
    wrong = await pstn_asterisk.call_engine(
        ROOM_DID, "+12025550111", manner="dtmf", keys="1111#2222#3333#", delay=1
    )

    async def gone():
        return not await pstn_asterisk.has_channel(wrong)

    await eventually(gone, timeout=30, what="the wrong PIN to be refused")
    assert await members(engine) == []

    # The right PIN enters as a member, the moderator's as moderator.
    await pstn_asterisk.call_engine(ROOM_DID, "+12025550112", manner="dtmf", keys="1234#", delay=1)
    await pstn_asterisk.call_engine(ROOM_DID, "+12025550113", manner="dtmf", keys="9999#", delay=1)

    async def both_in():
        return len(await members(engine)) == 2

    await eventually(both_in, timeout=20, what="both callers to enter")
    by_caller = {m.caller: m for m in await members(engine)}
    assert not by_caller["+12025550112"].moderator
    assert by_caller["+12025550113"].moderator
    bridge = await engine.ari.get_bridge(engine.rooms.bridge_of("settlements"))
    assert set(bridge.channels) == {m.id for m in await members(engine)}

    # The moderator mutes one and kicks him; the other stays.
    member = by_caller["+12025550112"].id
    base = f"{api}/rooms/settlements/members/{member}"
    async with moderator.post(f"{base}/mute") as response:
        assert response.status == 200 and (await response.json())["muted"] is True
    async with moderator.post(f"{base}/kick") as response:
        assert response.status == 200

    async def one_left():
        return [m.caller for m in await members(engine)] == ["+12025550113"]

    await eventually(one_left, timeout=15, what="the kicked member to leave")


async def test_given_an_invitation_link_when_opened_in_time_then_the_engine_calls_the_guest_in(
    connected_engine: Engine, api: str, moderator: aiohttp.ClientSession
):
    engine = connected_engine
    async with moderator.post(f"{api}/rooms", json={"name": "settlements"}) as response:
        assert response.status == 201
    async with moderator.post(
        f"{api}/rooms/settlements/invitations", json={"valid_seconds": 3}
    ) as response:
        assert response.status == 201
        link = (await response.json())["url"]

    async with aiohttp.ClientSession() as browser:  # no account, no token: the link is enough
        async with browser.get(link) as response:
            assert response.status == 200
            assert "settlements" in await response.text()
        async with browser.post(link, data={"number": "not a number"}) as response:
            assert response.status == 422
        async with browser.post(link, data={"number": GUEST}) as response:
            assert response.status == 202

        async def guest_in():
            return [m.via for m in await members(engine)] == ["invitation"]

        await eventually(guest_in, timeout=15, what="the guest to be called in")

        # A forged link is refused, an expired one says so.
        async with browser.get(link[:-3] + "abc") as response:
            assert response.status == 403

        async def expired() -> bool:
            async with browser.get(link) as response:
                return response.status == 410 and "expired" in await response.text()

        await eventually(expired, timeout=10, interval=0.5, what="the link to expire")
        async with browser.post(link, data={"number": GUEST}) as response:
            assert response.status == 410


async def test_given_a_room_extension_when_an_agent_dials_it_then_he_is_in_until_he_hangs_up(
    connected_engine: Engine, api: str, moderator: aiohttp.ClientSession, agent_phone
):
    engine = connected_engine
    async with moderator.post(
        f"{api}/rooms", json={"name": "settlements", "extension": "8001"}
    ) as response:
        assert response.status == 201
    call = await agent_phone.dial("8001", hold_seconds=3)

    async def in_room():
        return [m.via for m in await members(engine)] == ["dial-in"]

    await eventually(in_room, timeout=10, what="the softphone to enter the room")
    assert await asyncio.wait_for(call.wait(), timeout=15) == 0

    async def empty():
        return await members(engine) == [] and engine.rooms.bridge_of("settlements") is None

    await eventually(empty, timeout=10, what="the room to empty when he hangs up")
