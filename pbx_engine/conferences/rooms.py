"""Who may enter a conference room, and as what: pure, no I/O.

A room may ask for a PIN. The moderator's PIN (when the room has one) makes the caller its
moderator, who also gets into a full room. A room without PINs lets everyone in as a member.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class Room:
    name: str
    extension: str | None = None
    did: str | None = None
    pin: str | None = None
    moderator_pin: str | None = None
    moderator: str | None = None  # an agent's login
    max_members: int = 10
    tones: bool = True
    stored: bool = field(default=False, compare=False)  # made through the API (deletable)

    @property
    def asks_for_pin(self) -> bool:
        return bool(self.pin or self.moderator_pin)

    def answers_to(self, number: str) -> bool:
        """Whether a call to `number` (a DID, or an extension dialled inside) is for this room."""
        return number in {self.extension, self.did} - {None}

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "extension": self.extension,
            "did": self.did,
            "has_pin": bool(self.pin),
            "moderator": self.moderator,
            "max_members": self.max_members,
            "tones": self.tones,
        }


class Refusal(StrEnum):
    WRONG_PIN = "wrong_pin"
    FULL = "full"


@dataclass(frozen=True)
class Admission:
    refused: Refusal | None = None
    moderator: bool = False

    @property
    def admitted(self) -> bool:
        return self.refused is None


def admit(room: Room, pin: str | None, members: int) -> Admission:
    """May a caller who keyed `pin` (None: he was not asked) enter a room with `members`?"""
    moderator = bool(room.moderator_pin) and pin == room.moderator_pin
    if not moderator and room.pin and pin != room.pin:
        return Admission(Refusal.WRONG_PIN)
    if not moderator and room.moderator_pin and not room.pin and pin not in (None, ""):
        return Admission(Refusal.WRONG_PIN)  # he keyed a PIN, and it is not the moderator's
    if members >= room.max_members and not moderator:
        return Admission(Refusal.FULL)
    return Admission(moderator=moderator)
