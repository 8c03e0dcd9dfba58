"""The one interface a number look-up provider implements, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class LineType(StrEnum):
    """The line types the engine acts on (a provider's own words map onto these)."""

    MOBILE = "mobile"
    LANDLINE = "landline"
    VOIP = "voip"
    TOLL_FREE = "toll_free"
    OTHER = "other"  # premium, shared cost, pager, voicemail-only ...
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LineCheck:
    e164: str
    valid: bool  # False: the number cannot be reached (not in service, not a number)
    line_type: LineType = LineType.UNKNOWN
    carrier: str | None = None
    why: str | None = None  # when not valid, in the provider's words


class LookupFailed(Exception):
    """The provider could not answer (unreachable, refused the credentials, an error): the
    number is dialled or texted as if no provider were set."""


class NumberLookupProvider(Protocol):
    name: str

    async def check(self, e164: str) -> LineCheck:
        """What the provider knows of `e164`; LookupFailed when it cannot say."""
        ...
