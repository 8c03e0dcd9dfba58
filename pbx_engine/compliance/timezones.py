"""The debtor's possible time zones: the case's own, else those of his number's area."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_timezones


class UnknownTimezone(ValueError):
    pass


def debtor_zones(case_timezone: str | None, e164: str, fallback: str) -> tuple[ZoneInfo, ...]:
    """`case_timezone` wins (the operator knows where the debtor lives); else every zone the
    number's area spans (a US area code may span two); else the campaign's `fallback`."""
    if case_timezone:
        return (_zone(case_timezone),)
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        number = None
    names = number_timezones.time_zones_for_number(number) if number else ()
    zones = tuple(_zone(n) for n in names if n != number_timezones.UNKNOWN_TIMEZONE)
    return zones or (_zone(fallback),)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimezone(f"unknown time zone {name!r}") from None
