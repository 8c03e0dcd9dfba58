"""Phone numbers: every number the engine stores or compares is E.164, parsed by `phonenumbers`;
and what `phonenumbers` knows of a line before it is dialled or texted (is it a valid number in
its country's plan, and a mobile, a landline, a premium-rate line...)."""

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


# Lines no SMS reaches (`phonenumbers.PhoneNumberType`), in the words a refusal uses.
_NO_SMS = {
    phonenumbers.PhoneNumberType.FIXED_LINE: "a landline",
    phonenumbers.PhoneNumberType.TOLL_FREE: "a toll-free number",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    phonenumbers.PhoneNumberType.SHARED_COST: "a shared-cost number",
    phonenumbers.PhoneNumberType.UAN: "a company's universal access number",
    phonenumbers.PhoneNumberType.VOICEMAIL: "a voicemail access number",
    phonenumbers.PhoneNumberType.PAGER: "a pager",
}


def invalid_number(e164: str) -> str | None:
    """Why `e164` cannot be a working number (not valid in its country's numbering plan, as
    `phonenumbers` has it); None when it can."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return f"{e164} is not a phone number"
    if not phonenumbers.is_valid_number(parsed):
        return f"{e164} is not a valid number in its country's numbering plan"
    return None


def sms_line_problem(e164: str) -> str | None:
    """Why no SMS can reach `e164` (invalid, or a landline, toll-free, premium-rate... line);
    None when it may (a mobile, and the plans that do not tell mobiles from landlines, such
    as the North American one)."""
    invalid = invalid_number(e164)
    if invalid is not None:
        return invalid
    kind = phonenumbers.number_type(phonenumbers.parse(e164, None))
    if kind in _NO_SMS:
        return f"{e164} is {_NO_SMS[kind]} (its numbering plan says): no SMS reaches it"
    return None
