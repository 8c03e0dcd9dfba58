"""The message drop after the engine detector's MACHINE verdict, without a PBX: the connector
waits for the greeting's end, plays the message from Stasis, records it, hangs up, and the
listening is stopped whatever happens (fakes stand in for ARI, the detector and storage)."""

import asyncio
from datetime import UTC, datetime

from ari_apps.outbound_call import Verdict
from pbx_engine.amd.beep import GoReason, GreetingOver
from pbx_engine.ari.events import Channel, Playback, parse_event
from pbx_engine.ari.stream import EventRouter, Subscription
from pbx_engine.dialer.connector import AgentConnector
from pbx_engine.dialer.outcomes import Outcome
from pbx_engine.dialer.service import CallRequest

CALL = "out-1"


class FakeAri:
    def __init__(self) -> None:
        self.router = EventRouter()
        self.played: list[str] = []
        self.hung_up: list[str] = []
        self.continued: list[str] = []
        self.channel_up = True

    def subscribe(self, *ids: str) -> Subscription:
        return Subscription(self.router, ids)

    def send(self, event: dict) -> None:
        self.router.route(parse_event(event))

    async def get_channel(self, channel_id):
        return Channel(id=channel_id) if self.channel_up else None

    async def play(self, channel_id, media, **_):
        self.played.append(media)
        return Playback(id="pb-1", target_uri=f"channel:{channel_id}")

    async def hangup(self, channel_id, reason="normal"):
        self.hung_up.append(channel_id)
        return True

    async def set_variable(self, channel_id, name, value):
        pass

    async def continue_in_dialplan(self, channel_id, *, context, extension, priority):
        self.continued.append(context)


class FakeDetector:
    """Watches the call until told the greeting is over (`go`)."""

    def __init__(self, watching: bool = True) -> None:
        self.watching = watching
        self.over: asyncio.Future[GreetingOver] = asyncio.get_running_loop().create_future()
        self.stopped = 0

    def is_watching(self, channel_id):
        return self.watching

    async def greeting_over(self, channel_id):
        return await self.over

    async def stop_watching(self, channel_id):
        self.watching = False
        self.stopped += 1


class FakeStorage:
    def __init__(self) -> None:
        self.messages: list[tuple[str, datetime, datetime]] = []

    async def record_message(self, channel_id, started, ended):
        self.messages.append((channel_id, started, ended))


def machine() -> Verdict:
    return Verdict("MACHINE", "LONGGREETING-3500-3500", Outcome.MACHINE, datetime.now(UTC))


def connector(ari, detector, storage) -> AgentConnector:
    return AgentConnector(ari, storage, agents=None, engine_detector=detector)  # type: ignore[arg-type]


REQUEST = CallRequest(number="+12025550101", machine_message="/sounds/promise")


async def test_given_the_beep_ends_then_the_message_is_played_recorded_and_the_call_ended():
    ari, detector, storage = FakeAri(), FakeDetector(), FakeStorage()
    dropping = asyncio.create_task(
        connector(ari, detector, storage).on_verdict(CALL, REQUEST, machine())
    )
    await asyncio.sleep(0.01)
    assert ari.played == []  # the greeting goes on
    detector.over.set_result(GreetingOver(GoReason.BEEP, 2400, 600, 1000))
    await asyncio.sleep(0.01)
    assert ari.played == ["sound:/sounds/promise"]
    assert detector.stopped == 1  # the snoop is gone while the message plays
    ari.send(
        {"type": "PlaybackFinished", "playback": {"id": "pb-1", "target_uri": f"channel:{CALL}"}}
    )
    assert await dropping is None
    [(channel, started, ended)] = storage.messages
    assert channel == CALL and started <= ended
    assert ari.hung_up == [CALL]


async def test_given_the_line_hangs_up_mid_greeting_then_nothing_is_played_and_the_watch_stops():
    ari, detector, storage = FakeAri(), FakeDetector(), FakeStorage()
    dropping = asyncio.create_task(
        connector(ari, detector, storage).on_verdict(CALL, REQUEST, machine())
    )
    await asyncio.sleep(0.01)
    ari.send({"type": "ChannelDestroyed", "channel": {"id": CALL}, "cause": 16})
    await dropping
    assert (ari.played, storage.messages) == ([], [])
    assert detector.stopped >= 1 and not detector.watching


async def test_given_the_line_hangs_up_mid_message_then_it_is_not_on_record():
    ari, detector, storage = FakeAri(), FakeDetector(), FakeStorage()
    dropping = asyncio.create_task(
        connector(ari, detector, storage).on_verdict(CALL, REQUEST, machine())
    )
    detector.over.set_result(GreetingOver(GoReason.SILENCE, 900))
    await asyncio.sleep(0.01)
    ari.send({"type": "ChannelDestroyed", "channel": {"id": CALL}, "cause": 16})
    await dropping
    assert ari.played and storage.messages == []


async def test_given_the_line_gone_before_the_drop_began_then_it_does_not_wait_for_the_greeting():
    ari, detector, storage = FakeAri(), FakeDetector(), FakeStorage()
    ari.channel_up = False
    await asyncio.wait_for(
        connector(ari, detector, storage).on_verdict(CALL, REQUEST, machine()), 1
    )
    assert ari.played == [] and not detector.watching


async def test_given_a_dialplan_detector_judged_the_machine_then_the_dialplan_leaves_the_message():
    ari, detector, storage = FakeAri(), FakeDetector(watching=False), FakeStorage()
    await connector(ari, detector, storage).on_verdict(CALL, REQUEST, machine())
    assert ari.continued == ["engine-message-drop"]
    assert ari.played == []
