"""How long an SMS is before it is sent: which alphabet it needs and how many parts it takes.

A text that fits the GSM 7-bit default alphabet (3GPP TS 23.038) is sent in it: 160 characters
in one part, 153 a part once it is split (the user data header takes 7 septets); the characters
of the extension table (`{ } [ ] ~ \\ | ^ €` and form feed) take two septets each, and a part
never ends between the two. Anything else (an emoji, a "ł", a "ç"... the default alphabet has
"Ç" but not "ç") makes the whole message UCS-2: 70 UTF-16 code units in one part, 67 a part
once split, and a character outside the basic plane takes two units that a part never splits.
Carriers bill per part, and one stray character can triple the parts: the count is shown before
a template goes live, never discovered on the invoice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The default alphabet, in code order (0x00-0x7F); 0x1B is the escape to the extension table.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"

_BASIC = frozenset(GSM_BASIC) - {"\x1b"}
_EXTENSION = frozenset(GSM_EXTENSION)

SINGLE_PART = {"gsm7": 160, "ucs2": 70}
PER_PART = {"gsm7": 153, "ucs2": 67}


class SmsEncoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True)
class SmsLength:
    encoding: SmsEncoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int
    # The characters that forced UCS-2, in order of first appearance (empty for GSM-7): what an
    # operator replaces to get the cheaper alphabet back.
    forcing_ucs2: tuple[str, ...] = ()

    def describe(self) -> str:
        part_word = "part" if self.parts == 1 else "parts"
        said = f"{self.parts} {part_word}, {self.encoding.value.upper()}, {self.units} units"
        if self.forcing_ucs2:
            shown = " ".join(repr(c) for c in self.forcing_ucs2[:5])
            said += f" (UCS-2 because of {shown})"
        return said


def _gsm_units(character: str) -> int | None:
    if character in _BASIC:
        return 1
    if character in _EXTENSION:
        return 2
    return None


def measure_sms(text: str) -> SmsLength:
    """The alphabet `text` is sent in and the parts it takes."""
    forcing = tuple(dict.fromkeys(c for c in text if _gsm_units(c) is None))
    if not forcing:
        units = [_gsm_units(c) or 0 for c in text]
        return SmsLength(SmsEncoding.GSM7, sum(units), _parts(units, SmsEncoding.GSM7))
    units = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return SmsLength(SmsEncoding.UCS2, sum(units), _parts(units, SmsEncoding.UCS2), forcing)


def _parts(units: list[int], encoding: SmsEncoding) -> int:
    """Parts needed, filling each without splitting a character's units across two."""
    total = sum(units)
    if total <= SINGLE_PART[encoding]:
        return 1
    room, parts, used = PER_PART[encoding], 1, 0
    for size in units:
        if used + size > room:
            parts, used = parts + 1, 0
        used += size
    return parts
