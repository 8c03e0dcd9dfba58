"""G.711 decoding and RTP parsing for the engine's AMD listener."""

import struct

import pytest

from pbx_engine.amd.g711 import (
    ALAW_TO_LINEAR,
    ULAW_TO_LINEAR,
    alaw_decode,
    ulaw_decode,
    ulaw_encode,
    ulaw_encode_sample,
)
from pbx_engine.amd.rtp import MalformedRtp, RtpPacket, RtpSequencer, parse_rtp


def test_mu_law_known_values():
    # ITU-T G.711: 0xFF and 0x7F are the two zeros, 0x80/0x00 the largest magnitudes.
    assert ULAW_TO_LINEAR[0xFF] == 0
    assert ULAW_TO_LINEAR[0x7F] == 0
    assert ULAW_TO_LINEAR[0x80] == 32124
    assert ULAW_TO_LINEAR[0x00] == -32124
    assert ULAW_TO_LINEAR[0xF0] == 120  # the smallest step of the last segment but one
    assert list(ulaw_decode(b"\xff\x80\x00")) == [0, 32124, -32124]


def test_a_law_known_values():
    assert ALAW_TO_LINEAR[0xD5] == 8
    assert ALAW_TO_LINEAR[0x55] == -8
    assert ALAW_TO_LINEAR[0xAA] == 32256
    assert ALAW_TO_LINEAR[0x2A] == -32256
    assert list(alaw_decode(b"\xd5\x55")) == [8, -8]


def test_mu_law_round_trip_every_code():
    for code in range(256):
        if code == 0x7F:
            continue  # negative zero encodes back as positive zero
        assert ulaw_encode_sample(ULAW_TO_LINEAR[code]) == code


@pytest.mark.parametrize("sample", [0, 1, -1, 100, -100, 1000, -5000, 20000, 32767, -32768])
def test_mu_law_round_trip_is_within_a_quantisation_step(sample):
    decoded = ulaw_decode(ulaw_encode([sample]))[0]
    assert abs(decoded - sample) <= max(4, abs(sample) // 16)


def packet(sequence: int, payload: bytes = b"\xff" * 160, *, pt: int = 0, first: int = 0x80):
    return struct.pack("!BBHII", first, pt, sequence, sequence * 160, 0x1234) + payload


def test_an_rtp_packet_is_parsed():
    parsed = parse_rtp(packet(7, b"\x01\x02", pt=0x80 | 0))
    assert parsed == RtpPacket(0, 7, 1120, 0x1234, True, b"\x01\x02")


def test_csrc_extension_and_padding_are_skipped():
    csrc = struct.pack("!I", 99)
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\x00" * 4
    body = csrc + extension + b"\xaa\xbb" + b"\x00\x00\x03"  # 3 bytes of padding
    parsed = parse_rtp(packet(1, body, first=0x80 | 0x20 | 0x10 | 1))
    assert parsed.payload == b"\xaa\xbb"


@pytest.mark.parametrize(
    ("datagram", "complaint"),
    [
        (b"\x80\x00", "shorter than an RTP header"),
        (b"hello there, not RTP", "RTP version 1"),
        (packet(1, b"", first=0x80 | 0x0F), "runs past"),
        (packet(1, b"\x00", first=0x80 | 0x10), "extension cut short"),
        (packet(1, b"\x00", first=0xA0), "padding flag set without a padding length"),
    ],
)
def test_a_malformed_datagram_is_a_clear_error(datagram, complaint):
    with pytest.raises(MalformedRtp, match=complaint):
        parse_rtp(datagram)


def test_packets_in_order_pass_through():
    sequencer = RtpSequencer()
    out = [sequencer.accept(parse_rtp(packet(n, bytes([n])))) for n in (10, 11, 12)]
    assert out == [[b"\x0a"], [b"\x0b"], [b"\x0c"]]


def test_a_lost_packet_is_filled_with_the_last_one_and_a_late_one_dropped():
    sequencer = RtpSequencer()
    sequencer.accept(parse_rtp(packet(1, b"a")))
    assert sequencer.accept(parse_rtp(packet(4, b"d"))) == [b"a", b"a", b"d"]
    assert sequencer.accept(parse_rtp(packet(2, b"b"))) == []  # too late: already played
    assert sequencer.accept(parse_rtp(packet(4, b"d"))) == []  # a repeat
    assert (sequencer.lost, sequencer.dropped) == (2, 2)


def test_sequence_numbers_wrap_and_a_long_gap_restarts_the_stream():
    sequencer = RtpSequencer(max_gap=5)
    sequencer.accept(parse_rtp(packet(0xFFFF, b"y")))
    assert sequencer.accept(parse_rtp(packet(0, b"z"))) == [b"z"]
    assert sequencer.accept(parse_rtp(packet(500, b"q"))) == [b"q"]
    assert sequencer.lost == 0
