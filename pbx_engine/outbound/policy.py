"""May the engine dial this number for this purpose now? Pure: no I/O, no clock.

The kind of a number comes from `phonenumbers.number_type`, refined by its country calling
code: the non-geographic codes +870 (Inmarsat) and +881 (global satellite systems) are
satellite phones, which phonenumbers calls mobile; +882 and +883 are international networks
(ships, aircraft, global carriers), billed like satellite. A number phonenumbers cannot
place or does not find valid is UNKNOWN. What a purpose may reach is an allow-list: a kind or
a country not named is refused, so a new fraud destination is refused before anyone adds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from pbx_engine.ari.dialstrings import BROWSER_TARGET


class Purpose(StrEnum):
    CAMPAIGN = "campaign"  # the dialer calling debtors
    TEST_CALL = "test_call"  # POST /calls by a supervisor
    PARTY = "party"  # a third party an agent adds to his call
    ROOM_DIAL = "room_dial"  # a moderator rings a number into his room
    INVITATION = "invitation"  # a guest who opened an invitation link
    SUPERVISOR = "supervisor"  # a supervisor rung at a number to listen in


class NumberKind(StrEnum):
    FIXED_LINE = "fixed_line"
    MOBILE = "mobile"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"
    TOLL_FREE = "toll_free"
    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    VOIP = "voip"
    PERSONAL_NUMBER = "personal_number"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"
    SATELLITE = "satellite"
    INTERNATIONAL_NETWORK = "international_network"
    UNKNOWN = "unknown"
    # A guest's own browser (an invitation's "join from this browser"): no phone network is
    # reached and nothing is paid, so no kind or country rule applies; the caps still do.
    BROWSER = "browser"


_BY_TYPE = {
    phonenumbers.PhoneNumberType.FIXED_LINE: NumberKind.FIXED_LINE,
    phonenumbers.PhoneNumberType.MOBILE: NumberKind.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberKind.FIXED_LINE_OR_MOBILE,
    phonenumbers.PhoneNumberType.TOLL_FREE: NumberKind.TOLL_FREE,
    phonenumbers.PhoneNumberType.PREMIUM_RATE: NumberKind.PREMIUM_RATE,
    phonenumbers.PhoneNumberType.SHARED_COST: NumberKind.SHARED_COST,
    phonenumbers.PhoneNumberType.VOIP: NumberKind.VOIP,
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: NumberKind.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.PAGER: NumberKind.PAGER,
    phonenumbers.PhoneNumberType.UAN: NumberKind.UAN,
    phonenumbers.PhoneNumberType.VOICEMAIL: NumberKind.VOICEMAIL,
}
SATELLITE_CODES = frozenset({870, 881})
INTERNATIONAL_NETWORK_CODES = frozenset({882, 883})

# What a purpose may reach when the config says nothing: ordinary lines and free numbers.
SAFE_KINDS = frozenset(
    {
        NumberKind.FIXED_LINE,
        NumberKind.MOBILE,
        NumberKind.FIXED_LINE_OR_MOBILE,
        NumberKind.TOLL_FREE,
    }
)


@dataclass(frozen=True)
class Destination:
    e164: str
    country: str  # ISO 3166 code; "001" for non-geographic numbers, "ZZ" when unknown
    kind: NumberKind


def classify(number: str) -> Destination:
    """Where `number` (+E.164, or a browser's target) goes and what kind of line it is."""
    if number.startswith(BROWSER_TARGET):
        return Destination(number, "ZZ", NumberKind.BROWSER)
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return Destination(number, "ZZ", NumberKind.UNKNOWN)
    # An invalid number has no region of its own: its calling code's main country stands in.
    country = (
        phonenumbers.region_code_for_number(parsed)
        or phonenumbers.region_code_for_country_code(parsed.country_code)
        or "ZZ"
    )
    if parsed.country_code in SATELLITE_CODES:
        return Destination(number, country, NumberKind.SATELLITE)
    if parsed.country_code in INTERNATIONAL_NETWORK_CODES:
        return Destination(number, country, NumberKind.INTERNATIONAL_NETWORK)
    if not phonenumbers.is_valid_number(parsed):
        return Destination(number, country, NumberKind.UNKNOWN)
    kind = _BY_TYPE.get(phonenumbers.number_type(parsed), NumberKind.UNKNOWN)
    return Destination(number, country, kind)


@dataclass(frozen=True)
class PurposeRules:
    """What one purpose may dial. A cap of None: no cap."""

    countries: frozenset[str]
    kinds: frozenset[NumberKind] = SAFE_KINDS
    per_agent_per_hour: int | None = None
    per_link_per_hour: int | None = None
    per_address_per_hour: int | None = None


@dataclass(frozen=True)
class DialCounts:
    """What was dialled in the last hour, by who asks now."""

    by_agent: int = 0  # dials allowed for the agent
    by_link: int = 0  # dials allowed through the invitation link
    by_address: int = 0  # dials asked from the client's address, allowed or refused


@dataclass(frozen=True)
class OutboundDecision:
    allowed: bool
    reason: str  # a short code: ok, country, kind, agent_rate, link_rate, address_rate
    message: str
    status: int  # the HTTP status a refusal answers with (200 when allowed)

    @classmethod
    def ok(cls) -> OutboundDecision:
        return cls(True, "ok", "allowed", 200)


def decide(
    rules: PurposeRules,
    destination: Destination,
    counts: DialCounts,
    *,
    agent: bool = False,
    link: bool = False,
    address: bool = False,
) -> OutboundDecision:
    """The decision for one dial. `agent`, `link`, `address`: whether the dial is asked for by
    an agent, through an invitation link, from a known client address (their caps apply)."""
    reaches_network = destination.kind is not NumberKind.BROWSER
    if reaches_network and destination.kind not in rules.kinds:
        return OutboundDecision(
            False,
            "kind",
            f"{destination.kind.value.replace('_', ' ')} numbers may not be dialled",
            403,
        )
    if reaches_network and destination.country not in rules.countries:
        where = "no country" if destination.country in ("ZZ", "001") else destination.country
        return OutboundDecision(False, "country", f"numbers in {where} may not be dialled", 403)
    if agent and _over(counts.by_agent, rules.per_agent_per_hour):
        return OutboundDecision(
            False, "agent_rate", "too many outside calls this hour: try again later", 429
        )
    if link and _over(counts.by_link, rules.per_link_per_hour):
        return OutboundDecision(
            False, "link_rate", "this link made too many calls this hour: try again later", 429
        )
    if address and _over(counts.by_address, rules.per_address_per_hour):
        return OutboundDecision(
            False, "address_rate", "too many calls asked from here this hour: try later", 429
        )
    return OutboundDecision.ok()


def _over(count: int, cap: int | None) -> bool:
    return cap is not None and count >= cap


@dataclass(frozen=True)
class RoomLoad:
    members: int  # in the room now
    ringing: int  # rung by the engine, not answered yet
    max_members: int


def room_has_slot(load: RoomLoad) -> bool:
    """Whether one more call may ring into the room: every call still ringing holds a seat,
    so a flood of requests cannot ring more phones than the room can hold."""
    return load.members + load.ringing < load.max_members
