"""The engine detector's live side without a PBX: RTP into the listener, bad packets, the
beep watch after a MACHINE verdict, and which helper channels count as leftovers. What it does
with Asterisk's channels is tested against the real one (tests/integration)."""

import math
import random
import struct
from datetime import UTC, datetime, timedelta

import structlog
from structlog.testing import capture_logs

from pbx_engine.amd.beep import BeepSettings, GoReason
from pbx_engine.amd.g711 import ulaw_encode
from pbx_engine.amd.listener import ListenerSettings
from pbx_engine.amd.live import RtpIntake, leftover_tags, setups_on
from pbx_engine.ari.events import Channel
from tests.waiting import eventually


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


def test_given_helpers_of_several_calls_then_those_listening_to_one_call_are_found_by_their_snoop():
    channels = [
        Channel(id="amd-snoop-aa", name="Snoop/out-1-00000003"),
        Channel(id="amd-media-aa", name="UnicastRTP/127.0.0.1:4000-0x1"),
        Channel(id="amd-snoop-bb", name="Snoop/out-12-00000004"),  # another call, same start
        Channel(id="amd-snoop-cc", name="Snoop/out-1-00000009"),
        Channel(id="super-1", name="Snoop/out-1-00000005"),  # a supervisor's, not AMD's
        Channel(id="out-1", name="PJSIP/pstn-00000001"),
    ]
    assert setups_on(channels, "out-1") == {"aa", "cc"}
    assert setups_on(channels, "out-2") == set()


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


async def test_given_rtp_from_the_pbx_and_an_intruder_then_only_the_pbx_is_heard():
    import asyncio
    import socket

    from pbx_engine.amd.live import media_peer_addresses

    loop = asyncio.get_running_loop()
    peers = await media_peer_addresses("127.0.0.1")
    with capture_logs() as logs:
        transport, intake = await loop.create_datagram_endpoint(
            lambda: RtpIntake(ListenerSettings(), structlog.get_logger(), peers=peers),
            local_addr=("127.0.0.1", 0),
        )
        port = transport.get_extra_info("sockname")[1]
        pbx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        intruder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            pbx.bind(("127.0.0.1", 0))
            intruder.bind(("127.0.0.2", 0))  # all of 127/8 is loopback on Linux
            for n in range(5):
                intruder.sendto(rtp(100 + n, SILENT), ("127.0.0.1", port))
                pbx.sendto(rtp(n, SILENT), ("127.0.0.1", port))

            async def all_arrived() -> bool:
                return intake.packets + intake.foreign >= 10

            await eventually(all_arrived, timeout=2, interval=0.01, what="the datagrams")
        finally:
            pbx.close()
            intruder.close()
            transport.close()
    assert (intake.packets, intake.foreign) == (5, 5)
    foreign = [e for e in logs if e["event"] == "amd.rtp_foreign_source"]
    assert len(foreign) == 3 and foreign[0]["source"] == "127.0.0.2"  # logged, not flooded


async def test_given_a_host_name_as_media_peer_then_its_addresses_are_accepted():
    from pbx_engine.amd.live import media_peer_addresses

    assert "127.0.0.1" in await media_peer_addresses("localhost")
    assert await media_peer_addresses("[::1]") == frozenset({"::1"})
