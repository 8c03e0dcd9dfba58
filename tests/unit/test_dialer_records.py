"""The dialer and the record keeper: no call is placed while records cannot be written, and a
call whose attempt could not be written lets its reserved agent go (fakes, no PBX)."""

import asyncio
from types import SimpleNamespace

import pytest

from ari_apps.outcomes import Outcome
from pbx_engine.ari.errors import error_for
from pbx_engine.ari.stream import EventRouter, Subscription
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
    ari = SimpleNamespace(
        connected=connected,
        node_for_new_call=lambda: "asterisk",
        node_up=lambda _: connected.is_set(),
    )
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


class RecordedAttempts:
    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}

    async def create_attempt(self, *, channel_id, **fields) -> int:
        self.outcomes[channel_id] = "pending"
        return len(self.outcomes)

    async def finish_attempt(self, channel_id, *, outcome, **fields) -> None:
        self.outcomes[channel_id] = outcome


class StoppingAsterisk:
    """Answers every request 503, as Asterisk's HTTP server does while it stops."""

    app = "pbx-engine"

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.connected.set()  # its websocket has not dropped yet
        self.router = EventRouter()
        self.hung_up: list[str] = []

    def subscribe(self, *channel_ids):
        return Subscription(self.router, channel_ids)

    def node_for_new_call(self):
        return "asterisk"

    def node_up(self, node):
        return self.connected.is_set()

    async def create_channel(self, endpoint, **params):
        raise error_for(503, "POST", "/channels/create", "Shutdown in progress")

    async def hangup(self, channel_id, **params):
        self.hung_up.append(channel_id)
        raise error_for(503, "DELETE", f"/channels/{channel_id}", "Shutdown in progress")


async def test_given_asterisk_refuses_the_create_with_503_then_the_call_is_on_record_not_placed():
    """Nothing rang: on record as not placed (no retry rule counts it), the agent freed, and no
    other call tried while the websocket has yet to notice Asterisk going."""
    handler, attempts, ari = Handler(), RecordedAttempts(), StoppingAsterisk()
    storage = SimpleNamespace(attempts=attempts)
    async with Dialer(ari, storage, DialerConfig(), handler=handler) as calls:
        result = await calls.call(CallRequest(number="+12025550102", agent="anna"))
        assert result.outcome is Outcome.NOT_PLACED
        assert "503" in (result.hangup_cause_text or "")
        with pytest.raises(AsteriskNotHeard, match="refused a call"):
            calls.place_call(CallRequest(number="+12025550103", agent="piotr"))
    assert list(attempts.outcomes.values()) == ["not_placed"]
    assert handler.finished == [Outcome.NOT_PLACED]
    assert ari.hung_up == []  # no channel was made, none to hang up
