"""The engine detector's live side without a PBX: RTP into the listener, bad packets, and the
clean-up of its helper channels whatever happens (a fake ARI stands in for Asterisk)."""

import asyncio
import math
import random
import socket
import struct
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from structlog.testing import capture_logs

from pbx_engine.amd.beep import BeepSettings, GoReason
from pbx_engine.amd.g711 import ulaw_encode
from pbx_engine.amd.listener import ListenerSettings
from pbx_engine.amd.live import EngineDetector, RtpIntake, leftover_tags
from pbx_engine.ari import ChannelGone
from pbx_engine.ari.events import Bridge, Channel, parse_event
from pbx_engine.ari.stream import EventRouter, Subscription


def rtp(sequence: int, payload: bytes, payload_type: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, payload_type, sequence, sequence * 160, 7) + payload


def voiced(sequence: int) -> bytes:
    return ulaw_encode(
        int(8000 * math.sin(2 * math.pi * 440 * (sequence * 160 + i) / 8000)) for i in range(160)
    )


SILENT = b"\xff" * 160


async def test_given_rtp_of_a_short_hello_then_silence_then_the_intake_says_human():
    intake = RtpIntake(ListenerSettings(), structlog.get_logger())
    packets = [SILENT] * 15 + [voiced(n) for n in range(25)] + [SILENT] * 60
    for n, payload in enumerate(packets):
        intake.datagram_received(rtp(n, payload), ("127.0.0.1", 4000))
    verdict = intake.verdict.result()
    assert verdict.status == "HUMAN"
    assert verdict.cause == "HUMAN-500-500"
    assert verdict.packets == 15 + 25 + 25  # the packets after the verdict are not read


async def test_given_malformed_and_foreign_packets_then_they_are_logged_and_skipped():
    logger = structlog.get_logger().bind(channel_id="out-1", case_id=42)
    intake = RtpIntake(ListenerSettings(), logger)
    with capture_logs() as logs:
        intake.datagram_received(b"\x00\x01", ("127.0.0.1", 4000))
        intake.datagram_received(rtp(1, b"\x01\x02\x03\x04", payload_type=101), ("x", 1))
        intake.datagram_received(rtp(2, SILENT), ("127.0.0.1", 4000))
    assert [e["event"] for e in logs] == ["amd.rtp_malformed", "amd.rtp_payload_ignored"]
    assert logs[0]["channel_id"] == "out-1" and logs[0]["case_id"] == 42
    assert "shorter than an RTP header" in logs[0]["error"]
    assert (intake.rejected, intake.packets, intake.verdict.done()) == (2, 1, False)


async def test_given_no_audio_when_giving_up_then_notsure_no_audio():
    intake = RtpIntake(ListenerSettings(), structlog.get_logger())
    intake.give_up()
    assert (intake.verdict.result().status, intake.verdict.result().cause) == (
        "NOTSURE",
        "NOAUDIODATA",
    )


class FakeAri:
    """Just what EngineDetector uses; records requests; a snoop can be made to fail."""

    app = "pbx-engine"

    def __init__(self, *, snoop_error: Exception | None = None) -> None:
        self.router = EventRouter()
        self.snoop_error = snoop_error
        self.requests: list[tuple[str, str]] = []
        self.hung_up: list[str] = []
        self.destroyed: list[str] = []
        self.bridged = asyncio.Event()  # the external media channel is in the bridge

    def subscribe(self, *ids: str) -> Subscription:
        return Subscription(self.router, ids)

    def _started(self, channel_id: str) -> None:
        event = {"type": "StasisStart", "channel": {"id": channel_id}, "args": []}
        asyncio.get_running_loop().call_soon(self.router.route, parse_event(event))

    async def snoop(self, channel_id, *, app, spy, snoop_id, app_args, whisper="none"):
        self.requests.append(("snoop", channel_id))
        if self.snoop_error:
            raise self.snoop_error
        self._started(snoop_id)
        return Channel(id=snoop_id)

    async def external_media(self, *, app, external_host, audio_format, channel_id, **_):
        self.requests.append(("externalMedia", external_host))
        self._started(channel_id)
        return Channel(id=channel_id)  # no UNICASTRTP_* variables: nothing to nudge

    async def create_bridge(self, *, bridge_type, bridge_id, name):
        self.requests.append(("bridge", bridge_type))
        return Bridge(id=bridge_id)

    async def add_channel(self, bridge_id, channel_ids):
        self.requests.append(("addChannel", ",".join(channel_ids)))
        self.bridged.set()

    async def hangup(self, channel_id, reason="normal"):
        self.hung_up.append(channel_id)
        return True

    async def destroy_bridge(self, bridge_id):
        self.destroyed.append(bridge_id)
        return True


async def test_given_the_debtor_hangs_up_before_the_snoop_then_channel_gone_and_all_removed():
    ari = FakeAri(snoop_error=ChannelGone(404, "POST", "/channels/out-1/snoop", "not found"))
    detector = EngineDetector(ari, timeout=1)  # type: ignore[arg-type]
    with pytest.raises(ChannelGone):
        await detector.listen("out-1")
    assert {c.split("-")[1] for c in ari.hung_up} == {"snoop", "media"}
    assert len(ari.destroyed) == 1


async def test_given_silence_on_the_line_when_no_rtp_comes_then_notsure_and_all_removed():
    ari = FakeAri()
    detector = EngineDetector(ari, timeout=0.2)  # type: ignore[arg-type]
    verdict = await detector.listen("out-1")
    assert (verdict.status, verdict.cause) == ("NOTSURE", "NOAUDIODATA")
    kinds = [kind for kind, _ in ari.requests]
    assert kinds == ["snoop", "externalMedia", "bridge", "addChannel"]
    assert ari.requests[1][1].startswith("127.0.0.1:")
    assert len(ari.hung_up) == 2 and len(ari.destroyed) == 1


async def test_given_the_call_ends_while_listening_when_cancelled_then_all_removed():
    ari = FakeAri()
    detector = EngineDetector(ari, timeout=30)  # type: ignore[arg-type]
    listening = asyncio.create_task(detector.listen("out-1"))
    await asyncio.sleep(0.05)
    listening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listening
    assert len(ari.hung_up) == 2 and len(ari.destroyed) == 1


NOW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)


def channel(channel_id: str, age_s: float) -> Channel:
    return Channel(id=channel_id, creationtime=NOW - timedelta(seconds=age_s))


def test_only_helper_channels_older_than_any_listener_are_leftovers():
    channels = [
        channel("amd-snoop-old1", 60),
        channel("amd-media-old1", 60),
        channel("amd-media-old2", 60),  # its snoop went with the debtor
        channel("amd-snoop-busy", 3),  # a listener (maybe another engine's) is using it
        channel("amd-media-busy", 3),
        channel("out-1234", 600),  # a call, not a helper
        channel("amd-bench-1", 600),  # the AMD benchmark's calls are no helpers either
        Channel(id="amd-snoop-unknown"),  # no creation time: never guess
    ]
    assert leftover_tags(channels, NOW, max_age=18) == {"old1", "old2"}


async def test_given_leftovers_after_a_restart_then_they_are_hung_up_with_their_bridge():
    ari = FakeAri()
    detector = EngineDetector(ari, timeout=8)  # type: ignore[arg-type]
    removed = await detector.remove_leftovers(
        [channel("amd-snoop-old1", 60), channel("amd-media-old1", 60), channel("x", 60)], NOW
    )
    assert removed == 1
    assert sorted(ari.hung_up) == ["amd-media-old1", "amd-snoop-old1"]
    assert ari.destroyed == ["amd-old1"]


# A message drop: after a MACHINE verdict the same listening goes on, for the greeting's end.
def spoken(sequence: int) -> bytes:
    """Speech-like sound for one packet: noise, which has no pitch a beep listener could take
    for a tone (a steady 440 Hz would be one)."""
    rng = random.Random(sequence)
    return ulaw_encode(int(rng.gauss(0, 4000)) for _ in range(160))


def beeping(sequence: int) -> bytes:
    return ulaw_encode(
        int(8000 * math.sin(2 * math.pi * 1000 * (sequence * 160 + i) / 8000)) for i in range(160)
    )


def voicemail_with_a_beep() -> list[bytes]:
    """0.3 s of silence, a greeting of 4.8 s (words of 200 ms, 40 ms between them), 0.3 s of
    silence, a beep of 0.6 s, then the silence of a box recording."""
    packets = [SILENT] * 15
    for word in range(20):
        packets += [spoken(100 * word + n) for n in range(10)] + [SILENT] * 2
    return packets + [SILENT] * 15 + [beeping(n) for n in range(30)] + [SILENT] * 50


async def test_given_a_machine_and_a_message_to_leave_then_the_intake_goes_on_to_the_beep():
    intake = RtpIntake(ListenerSettings(), structlog.get_logger(), BeepSettings())
    for n, payload in enumerate(voicemail_with_a_beep()):
        intake.datagram_received(rtp(n, payload), ("127.0.0.1", 4000))
    verdict = intake.verdict.result()
    assert (verdict.status, verdict.heard_ms) == ("MACHINE", 300 + 3500)
    over = intake.greeting_over.result()
    assert over.reason is GoReason.BEEP
    # From the verdict: the rest of the greeting (1.3 s), 0.3 s, the beep, one frame more.
    assert verdict.heard_ms + over.heard_ms == 300 + 4800 + 300 + 600 + 20


async def test_given_no_message_to_leave_then_the_intake_stops_at_the_verdict():
    intake = RtpIntake(ListenerSettings(), structlog.get_logger())
    for n, payload in enumerate(voicemail_with_a_beep()):
        intake.datagram_received(rtp(n, payload), ("127.0.0.1", 4000))
    assert intake.verdict.result().status == "MACHINE"
    assert not intake.greeting_over.done()


async def _send_rtp(ari: FakeAri, packets: list[bytes], first: int = 0) -> None:
    await ari.bridged.wait()
    host, port = next(v for k, v in ari.requests if k == "externalMedia").split(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for n, payload in enumerate(packets, start=first):
            sender.sendto(rtp(n, payload), (host, int(port)))
            if n % 50 == 0:
                await asyncio.sleep(0.005)  # let the engine's socket keep up


async def test_given_a_machine_when_watching_for_the_greeting_end_then_helpers_stay_until_stopped():
    ari = FakeAri()
    detector = EngineDetector(ari, timeout=5)  # type: ignore[arg-type]
    packets = voicemail_with_a_beep()
    listening = asyncio.create_task(detector.listen("out-1", watch_greeting=True))
    await _send_rtp(ari, packets)
    verdict = await listening
    assert verdict.status == "MACHINE"
    assert detector.is_watching("out-1")
    assert (ari.hung_up, ari.destroyed) == ([], [])  # still listening

    over = await detector.greeting_over("out-1")
    assert over.reason is GoReason.BEEP
    await detector.stop_watching("out-1")
    assert len(ari.hung_up) == 2 and len(ari.destroyed) == 1
    await detector.stop_watching("out-1")  # the call's end stops it again: nothing more
    assert len(ari.hung_up) == 2 and not detector.is_watching("out-1")


async def test_given_a_hangup_mid_greeting_when_the_call_ends_then_the_watch_is_removed():
    ari = FakeAri()
    detector = EngineDetector(ari, timeout=5)  # type: ignore[arg-type]
    greeting_only = voicemail_with_a_beep()[:200]  # the debtor's line goes before the beep
    listening = asyncio.create_task(detector.listen("out-1", watch_greeting=True))
    await _send_rtp(ari, greeting_only)
    assert (await listening).status == "MACHINE"
    await detector.stop_watching("out-1")
    assert len(ari.hung_up) == 2 and len(ari.destroyed) == 1
    assert await detector.greeting_over("out-1") is None


async def test_given_a_person_when_a_message_would_be_left_on_machines_then_nothing_is_kept():
    ari = FakeAri()
    detector = EngineDetector(ari, timeout=5)  # type: ignore[arg-type]
    hello = [SILENT] * 15 + [voiced(n) for n in range(25)] + [SILENT] * 60
    listening = asyncio.create_task(detector.listen("out-1", watch_greeting=True))
    await _send_rtp(ari, hello)
    assert (await listening).status == "HUMAN"
    assert not detector.is_watching("out-1")
    assert len(ari.hung_up) == 2 and len(ari.destroyed) == 1


async def test_given_the_audio_stops_while_watching_then_go_at_the_clock_s_cap(monkeypatch):
    # The frame-counting cap never comes without frames: the clock's (cap plus a grace) does.
    monkeypatch.setattr("pbx_engine.amd.live._SETUP_TIMEOUT", 0.1)
    ari = FakeAri()
    detector = EngineDetector(  # type: ignore[arg-type]
        ari, timeout=5, beep_settings=BeepSettings(max_wait_ms=100)
    )
    listening = asyncio.create_task(detector.listen("out-1", watch_greeting=True))
    await _send_rtp(ari, voicemail_with_a_beep()[:200])
    assert (await listening).status == "MACHINE"
    try:
        over = await detector.greeting_over("out-1")
    finally:
        await detector.stop_watching("out-1")
    assert over.reason is GoReason.CAP
