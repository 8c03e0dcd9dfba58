"""Feature codes an agent keys on his softphone during a call, read one digit at a time.

    *1<number>#   add a third party by phone number (international digits, no +)
    *2<agent id>#  add a colleague, by his agent id
    *0#           drop the party added last
    *3#           hand the call over to the case's owner
    *3<agent id>#  hand the call over to a colleague, by his agent id

A code starts with `*` and ends with `#`; anything else between codes (the agent pressing
keys for an IVR he called) is ignored. A `*` in the middle starts again.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AddNumber:
    digits: str


@dataclass(frozen=True)
class AddAgent:
    agent_id: int


@dataclass(frozen=True)
class DropLast:
    pass


@dataclass(frozen=True)
class HandOver:
    agent_id: int | None  # None: to the case's owner


@dataclass(frozen=True)
class UnknownCode:
    keys: str


FeatureCommand = AddNumber | AddAgent | DropLast | HandOver | UnknownCode

_MAX_KEYS = 20


class FeatureCodeReader:
    def __init__(self) -> None:
        self._keys: str | None = None  # None: not inside a code

    def press(self, digit: str) -> FeatureCommand | None:
        """Feed one key; returns the command a completed code asks for, else None."""
        if digit == "*":
            self._keys = ""
            return None
        if self._keys is None:
            return None
        if digit != "#":
            self._keys += digit
            if len(self._keys) > _MAX_KEYS:
                self._keys = None
            return None
        keys, self._keys = self._keys, None
        return parse_code(keys)


def parse_code(keys: str) -> FeatureCommand:
    """The command for the keys between `*` and `#`."""
    kind, rest = keys[:1], keys[1:]
    if kind == "1" and rest.isdigit() and 6 <= len(rest) <= 15:
        return AddNumber(rest)
    if kind == "2" and rest.isdigit():
        return AddAgent(int(rest))
    if keys == "0":
        return DropLast()
    if kind == "3" and (rest == "" or rest.isdigit()):
        return HandOver(int(rest) if rest else None)
    return UnknownCode(keys)
