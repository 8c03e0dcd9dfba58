"""Who may enter a conference room, and as what: pure, no I/O.

A room may ask for a PIN. The moderator's PIN (when the room has one) makes the caller its
moderator, who also gets into a full room. A room without PINs lets everyone in as a member.
A room's PINs may be held as scrypt hashes (`hash_pin`; rooms made through the API are stored
so), which `admit` checks like the plain PINs of the config file.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

from pbx_engine.signin.passwords import N, P, R, verify_password

_HASHED = "scrypt$"


def hash_pin(pin: str) -> str:
    """A PIN as an scrypt hash in the sign-in passwords' format (checked by `pin_matches`)."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(pin.encode(), salt=salt, n=N, r=R, p=P, maxmem=256 * N * R, dklen=32)
    return f"scrypt${N}${R}${P}${salt.hex()}${key.hex()}"


def is_hashed(stored: str | None) -> bool:
    return bool(stored) and stored.startswith(_HASHED)


def pin_matches(keyed: str | None, stored: str | None) -> bool:
    """Whether the keyed PIN is the stored one (a hash, or a plain PIN from the config file)."""
    if not stored or not keyed:
        return False
    if is_hashed(stored):
        return verify_password(keyed, stored)
    return hmac.compare_digest(keyed.encode(), stored.encode())


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
    def pins_hashed(self) -> bool:
        """Checking a PIN costs a hash (worth running off the event loop)."""
        return is_hashed(self.pin) or is_hashed(self.moderator_pin)

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


def admit(room: Room, pin: str | None, members: int, *, invited: bool = False) -> Admission:
    """May a caller who keyed `pin` (None: he was not asked) enter a room with `members`
    (counting the calls ringing into it)? `invited`: the engine called him in (no PIN asked,
    a member if there is room)."""
    if invited:
        return Admission(Refusal.FULL) if members >= room.max_members else Admission()
    moderator = bool(room.moderator_pin) and pin_matches(pin, room.moderator_pin)
    if not moderator and room.pin and not pin_matches(pin, room.pin):
        return Admission(Refusal.WRONG_PIN)
    if not moderator and room.moderator_pin and not room.pin and pin not in (None, ""):
        return Admission(Refusal.WRONG_PIN)  # he keyed a PIN, and it is not the moderator's
    if members >= room.max_members and not moderator:
        return Admission(Refusal.FULL)
    return Admission(moderator=moderator)
