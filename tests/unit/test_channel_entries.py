"""The flows that take unowned channels, with fake services: which one gets the channel."""

import asyncio

from pbx_engine.ari.events import parse_event
from pbx_engine.conferences.rooms import Room
from pbx_engine.routing.entries import ChannelEntries

ROOM = Room(name="board", extension="7001", did="+12025551800")


def _start(*args: str, caller: str = ""):
    channel = {"id": "ch-1", "state": "Up", "caller": {"name": "", "number": caller}}
    return parse_event({"type": "StasisStart", "channel": channel, "args": list(args)})


class FakeRooms:
    def __init__(self) -> None:
        self.accepted: list[tuple[str, str, str | None]] = []

    def room_for_number(self, number: str) -> Room | None:
        return ROOM if ROOM.answers_to(number) else None

    def accept(self, channel_id: str, room: Room, caller: str | None) -> None:
        self.accepted.append((channel_id, room.name, caller))


class FakeInbound:
    def __init__(self) -> None:
        self.accepted: list[str] = []

    def accept(self, start) -> None:
        self.accepted.append(start.channel.id)


class FakeAgents:
    def __init__(self) -> None:
        self.refused: list[str] = []
        self.logins: list[tuple[str, str]] = []

    async def refuse(self, channel_id: str) -> None:
        self.refused.append(channel_id)

    async def login_from_phone(self, channel_id: str, endpoint: str) -> None:
        self.logins.append((channel_id, endpoint))


class FakeAri:
    def __init__(self) -> None:
        self.hung_up: list[str] = []

    async def hangup(self, channel_id: str) -> None:
        self.hung_up.append(channel_id)


def _entries():
    ari, agents, inbound, rooms = FakeAri(), FakeAgents(), FakeInbound(), FakeRooms()
    return ChannelEntries(ari, agents, inbound, rooms), ari, agents, inbound, rooms


async def _settled(entries: ChannelEntries) -> None:
    for _ in range(3):
        await asyncio.sleep(0)
    await entries.close()


async def test_given_a_call_to_a_rooms_did_when_it_enters_then_the_room_takes_the_caller():
    entries, _, _, inbound, rooms = _entries()

    entries.inbound(_start("inbound", "+12025550100", "+12025551800", ""))

    assert rooms.accepted == [("ch-1", "board", "+12025550100")]
    assert inbound.accepted == []


async def test_given_a_call_to_another_number_when_it_enters_then_the_inbound_flow_takes_it():
    entries, _, _, inbound, rooms = _entries()

    entries.inbound(_start("inbound", "+12025550100", "+12025550200", "42"))
    entries.inbound(_start("inbound"))

    assert inbound.accepted == ["ch-1", "ch-1"]
    assert rooms.accepted == []


async def test_given_a_softphone_dialling_a_rooms_extension_then_the_room_takes_it():
    entries, _, agents, _, rooms = _entries()

    entries.dialled(_start("dialled", "7001", caller="agent-001"))

    assert rooms.accepted == [("ch-1", "board", "agent-001")]
    assert agents.refused == []


async def test_given_a_softphone_dialling_an_unknown_number_then_it_is_refused():
    entries, _, agents, _, rooms = _entries()

    entries.dialled(_start("dialled", "7999"))
    await _settled(entries)

    assert agents.refused == ["ch-1"]
    assert rooms.accepted == []


async def test_given_the_login_code_from_a_phone_then_its_endpoint_logs_in():
    entries, _, agents, _, _ = _entries()

    entries.agent_login(_start("agent-login", "agent-001"))
    await _settled(entries)

    assert agents.logins == [("ch-1", "agent-001")]


async def test_given_a_stray_channel_then_it_is_hung_up():
    entries, ari, _, _, _ = _entries()

    entries.unowned(_start("leftover"))
    await _settled(entries)

    assert ari.hung_up == ["ch-1"]


def test_given_the_engines_table_then_each_dialplan_argument_has_its_flow():
    from pbx_engine.engine import route_new_channels

    entries, *_ = _entries()
    router = route_new_channels(entries)

    assert router.handler_for(_start("inbound")) == entries.inbound
    assert router.handler_for(_start("dialled")) == entries.dialled
    assert router.handler_for(_start("agent-login")) == entries.agent_login
    assert router.handler_for(_start("amd", "HUMAN")) == entries.unowned
