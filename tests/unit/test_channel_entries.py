"""Which flow takes an unowned channel: a room when its DID or extension was called, else the
flow of its Stasis argument (the inbound flow, or a refusal). The flows themselves run in the
integration tests (inbound calls, room dial-in, rooms by extension, the login code)."""

from pbx_engine.ari.events import parse_event
from pbx_engine.conferences.rooms import Room
from pbx_engine.routing.entries import RoomCall, room_called, room_dialled

ROOM = Room(name="board", extension="7001", did="+12025551800")


def _lookup(number: str) -> Room | None:
    return ROOM if ROOM.answers_to(number) else None


def _start(*args: str, caller: str = ""):
    channel = {"id": "ch-1", "state": "Up", "caller": {"name": "", "number": caller}}
    return parse_event({"type": "StasisStart", "channel": channel, "args": list(args)})


def test_given_a_call_to_a_rooms_did_then_the_room_takes_the_caller():
    start = _start("inbound", "+12025550100", "+12025551800", "")
    assert room_called(start, _lookup) == RoomCall(ROOM, "+12025550100")


def test_given_a_call_to_another_number_or_none_then_it_is_the_inbound_flows():
    assert room_called(_start("inbound", "+12025550100", "+12025550200", "42"), _lookup) is None
    assert room_called(_start("inbound"), _lookup) is None


def test_given_a_rooms_did_and_no_caller_number_then_the_caller_is_unknown():
    assert room_called(_start("inbound", "", "+12025551800"), _lookup) == RoomCall(ROOM, None)


def test_given_a_softphone_dialling_a_rooms_extension_then_the_room_takes_it():
    start = _start("dialled", "7001", caller="agent-001")
    assert room_dialled(start, _lookup) == RoomCall(ROOM, "agent-001")


def test_given_a_softphone_dialling_an_unknown_number_or_none_then_no_room():
    assert room_dialled(_start("dialled", "7999"), _lookup) is None
    assert room_dialled(_start("dialled"), _lookup) is None
