"""Where a phone number is, as far as caller-ID matching cares: its country, its area (the
national destination code: 202 in +1 202..., 20 in +44 20...), a region that groups areas (a US
state, else the place name `phonenumbers` gives), and whether it is a mobile."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType, geocoder, number_type

_US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
    "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH",
    "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA",
    "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD", "Tennessee": "TN",
    "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY", "Washington D.C.": "DC",
}  # fmt: skip


@dataclass(frozen=True)
class Place:
    country: str  # ISO region code, e.g. "US"; "" when unknown
    area: str  # country calling code and area, e.g. "1-202"; "" for non-geographic numbers
    region: str  # e.g. "US-NY", "GB-London"; "" when unknown
    mobile: bool


@lru_cache(maxsize=65536)
def place_of(e164: str) -> Place:
    """Where `e164` is (cached: every dial asks). Unparseable numbers have an empty place."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return Place("", "", "", False)
    country = phonenumbers.region_code_for_number(number) or ""
    kind = number_type(number)
    mobile = kind == PhoneNumberType.MOBILE
    geographic = kind in (
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    area = ""
    if geographic:
        length = phonenumbers.length_of_national_destination_code(number)
        nsn = phonenumbers.national_significant_number(number)
        if length:
            area = f"{number.country_code}-{nsn[:length]}"
    return Place(country, area, _region(number, country) if geographic else "", mobile)


def _region(number: phonenumbers.PhoneNumber, country: str) -> str:
    description = geocoder.description_for_number(number, "en")
    if not description:
        return ""
    if country == "US":
        # "New York, NY", "New York", "Washington D.C.": the state is what groups areas.
        state = description.rsplit(", ", 1)[-1] if ", " in description else description
        state = _US_STATES.get(state, state)
        return f"US-{state}" if len(state) == 2 else ""
    return f"{country}-{description}"
