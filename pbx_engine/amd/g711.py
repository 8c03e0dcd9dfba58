"""G.711 μ-law and A-law, the two codecs a telephone line carries, to and from 16-bit linear PCM.

Tables built once at import from the ITU-T G.711 segment rules; Python's `audioop` did this until
it was deprecated (3.11) and removed (3.13).
"""

from __future__ import annotations

from array import array

_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


def _ulaw_to_linear(code: int) -> int:
    code = ~code & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = (((code & 0x0F) << 3) + _ULAW_BIAS) << exponent
    magnitude -= _ULAW_BIAS
    return -magnitude if code & 0x80 else magnitude


def _alaw_to_linear(code: int) -> int:
    code ^= 0x55
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    if exponent == 0:
        magnitude = (mantissa << 4) + 8
    else:
        magnitude = ((mantissa << 4) + 0x108) << (exponent - 1)
    # A-law's sign bit is set for positive samples (the opposite of μ-law's).
    return magnitude if code & 0x80 else -magnitude


ULAW_TO_LINEAR: tuple[int, ...] = tuple(_ulaw_to_linear(c) for c in range(256))
ALAW_TO_LINEAR: tuple[int, ...] = tuple(_alaw_to_linear(c) for c in range(256))


def _byte_tables(table: tuple[int, ...]) -> tuple[bytes, bytes]:
    """The table's 16-bit values split into their bytes in this machine's order, for
    `bytes.translate`: decoding then runs in C, byte by byte, instead of in a Python loop."""
    as_bytes = array("h", table).tobytes()
    return as_bytes[0::2], as_bytes[1::2]


_ULAW_BYTES = _byte_tables(ULAW_TO_LINEAR)
_ALAW_BYTES = _byte_tables(ALAW_TO_LINEAR)


def _decode(payload: bytes, tables: tuple[bytes, bytes]) -> array:
    pcm = bytearray(2 * len(payload))
    pcm[0::2] = payload.translate(tables[0])
    pcm[1::2] = payload.translate(tables[1])
    samples = array("h")
    samples.frombytes(pcm)
    return samples


def ulaw_decode(payload: bytes) -> array:
    """μ-law bytes to signed 16-bit samples (`array('h')`), one per byte."""
    return _decode(payload, _ULAW_BYTES)


def alaw_decode(payload: bytes) -> array:
    """A-law bytes to signed 16-bit samples (`array('h')`), one per byte."""
    return _decode(payload, _ALAW_BYTES)


def ulaw_encode_sample(sample: int) -> int:
    """One signed 16-bit sample to its μ-law byte (for tests and test signals)."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, _ULAW_CLIP) + _ULAW_BIAS
    exponent = max(0, min(7, magnitude.bit_length() - 8))
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_encode(samples) -> bytes:
    """Signed 16-bit samples to μ-law bytes."""
    return bytes(ulaw_encode_sample(s) for s in samples)
