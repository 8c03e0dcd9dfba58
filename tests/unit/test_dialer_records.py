"""The dialer and the record keeper: no call is placed while records cannot be written, and a
call whose attempt could not be written lets its reserved agent go (fakes, no PBX)."""

import asyncio
from types import SimpleNamespace

import pytest

from ari_apps.outcomes import Outcome
from pbx_engine.config import DialerConfig
from pbx_engine.dialer.service import AsteriskNotHeard, CallRequest, Dialer
from pbx_engine.recordkeeper import NotRecording, RecordKeeper


class Handler:
    def __init__(self) -> None:
        self.placed: list[str] = []
        self.finished: list[Outcome] = []

    def on_placed(self, channel_id, request) -> None:
        self.placed.append(channel_id)

    async def on_verdict(self, channel_id, request, verdict):
        return None

    async def on_finished(self, request, result) -> None:
        self.finished.append(result.outcome)


class Attempts:
    async def create_attempt(self, **fields) -> int:
        raise NotRecording("the attempt could not be written")


async def database_down() -> bool:
    return False


async def database_up() -> bool:
    return True


def dialer(handler: Handler, keeper: RecordKeeper, *, events_heard: bool = True) -> Dialer:
    storage = SimpleNamespace(attempts=Attempts())
    connected = asyncio.Event()
    if events_heard:
        connected.set()
    ari = SimpleNamespace(connected=connected)
    return Dialer(ari, storage, DialerConfig(), handler=handler, records=keeper)


async def test_given_records_cannot_be_written_then_no_call_is_placed_and_no_agent_held():
    handler = Handler()
    async with RecordKeeper(database_down) as keeper:
        keeper.lost("gone")
        async with dialer(handler, keeper) as calls:
            assert not calls.recording
            with pytest.raises(NotRecording):
                calls.place_call(CallRequest(number="+12025550102", agent="anna"))
    assert handler.placed == [] and handler.finished == []


async def test_given_the_attempt_cannot_be_written_then_the_call_ends_unplaced_freeing_its_agent():
    handler = Handler()
    async with RecordKeeper(database_up) as keeper, dialer(handler, keeper) as calls:
        result = await calls.call(CallRequest(number="+12025550102", agent="anna"))
    assert result.outcome is Outcome.CANCELLED
    assert len(handler.placed) == 1
    assert handler.finished == [Outcome.CANCELLED]


async def test_given_asterisks_events_are_not_heard_then_no_call_is_placed_and_no_agent_held():
    """Its answer, verdict and end would go unheard: a dead websocket dials nothing."""
    handler = Handler()
    async with (
        RecordKeeper(database_up) as keeper,
        dialer(handler, keeper, events_heard=False) as calls,
    ):
        with pytest.raises(AsteriskNotHeard):
            calls.place_call(CallRequest(number="+12025550102", agent="anna"))
    assert handler.placed == [] and handler.finished == []
