"""RTP packets (RFC 3550) as the engine receives them from Asterisk's external media channel.

`parse_rtp` reads one datagram; `RtpSequencer` turns packets arriving out of order, twice or not
at all into the steady run of payloads a detector needs: late and repeated packets are dropped,
a short gap is filled by repeating the last payload (a lost 20 ms frame should neither add nor
remove time from what the detector hears), a long gap restarts the count.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
PAYLOAD_PCMU = 0
PAYLOAD_PCMA = 8
_HEADER = struct.Struct("!BBHII")


class MalformedRtp(ValueError):
    """A datagram that is not an RTP packet we can read."""


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes


def parse_rtp(datagram: bytes) -> RtpPacket:
    """One RTP packet; raises `MalformedRtp` saying what is wrong with it."""
    if len(datagram) < _HEADER.size:
        raise MalformedRtp(f"{len(datagram)} bytes, shorter than an RTP header (12)")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(datagram)
    version = first >> 6
    if version != RTP_VERSION:
        raise MalformedRtp(f"RTP version {version}, expected 2")
    offset = _HEADER.size + 4 * (first & 0x0F)  # the contributing sources' list
    if first & 0x10:  # a header extension: 16-bit profile, 16-bit length in 32-bit words
        if len(datagram) < offset + 4:
            raise MalformedRtp("header extension cut short")
        (words,) = struct.unpack_from("!H", datagram, offset + 2)
        offset += 4 + 4 * words
    end = len(datagram)
    if first & 0x20:  # padding: the last byte says how many bytes to drop
        if end == 0 or datagram[-1] == 0:
            raise MalformedRtp("padding flag set without a padding length")
        end -= datagram[-1]
    if offset > end:
        raise MalformedRtp(f"header of {offset} bytes runs past the packet's {end}")
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        marker=bool(second & 0x80),
        payload=bytes(datagram[offset:end]),
    )


@dataclass
class RtpSequencer:
    """Orders one stream's payloads by sequence number (16 bits, wrapping)."""

    max_gap: int = 10  # lost packets filled in at most; beyond that the stream restarts
    expected: int | None = None
    last_payload: bytes = b""
    received: int = 0
    lost: int = 0
    dropped: int = 0  # late or repeated

    def accept(self, packet: RtpPacket) -> list[bytes]:
        """The payloads to play on, in order, now that `packet` has arrived (maybe none)."""
        self.received += 1
        if self.expected is None:
            return self._take(packet)
        ahead = (packet.sequence - self.expected) & 0xFFFF
        if ahead >= 0x8000:  # behind what we already played: late or a repeat
            self.dropped += 1
            return []
        if ahead > self.max_gap:
            return self._take(packet)  # a new stream (or a long outage): start again from here
        self.lost += ahead
        return [self.last_payload] * ahead + self._take(packet)

    def _take(self, packet: RtpPacket) -> list[bytes]:
        self.expected = (packet.sequence + 1) & 0xFFFF
        self.last_payload = packet.payload
        return [packet.payload]
