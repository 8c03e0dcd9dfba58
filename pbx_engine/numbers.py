"""Phone numbers: every number the engine stores or compares is E.164, parsed by `phonenumbers`."""

from __future__ import annotations

import phonenumbers


class BadNumber(ValueError):
    pass


def to_e164(raw: str, default_region: str) -> str:
    """`raw` as +E.164; numbers written without + are read as numbers of `default_region`.

    Raises BadNumber with the reason when the text is not a possible phone number.
    """
    text = raw.strip()
    if not text:
        raise BadNumber("empty phone number")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException as error:
        raise BadNumber(f"{raw!r} is not a phone number: {error._msg}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise BadNumber(f"{raw!r} is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
