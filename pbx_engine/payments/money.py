"""Amounts as providers take them (pure): whole minor units of the currency (cents for USD, yen
for JPY, fils for BHD: ISO 4217's exponent, from Babel), and an amount a debtor typed, checked
against what he owes."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from babel.numbers import get_currency_precision

_TYPED = re.compile(r"^[0-9]{1,12}([.,][0-9]{1,4})?$")


class AmountError(ValueError):
    """An amount that cannot be paid: the message says why, for the debtor."""


def precision(currency: str) -> int:
    """How many decimals the currency has (2 for EUR, 0 for JPY, 3 for KWD)."""
    return get_currency_precision(currency.upper())


def to_minor_units(amount: Decimal, currency: str) -> int:
    """`amount` in whole minor units; AmountError if it has more decimals than the currency."""
    scaled = amount.scaleb(precision(currency))
    if scaled != scaled.to_integral_value():
        raise AmountError(f"{amount} {currency} has more decimals than {currency} has")
    return int(scaled)


def from_minor_units(units: int, currency: str) -> Decimal:
    places = precision(currency)
    return Decimal(units).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def typed_amount(text: str, currency: str, most: Decimal) -> Decimal:
    """What a debtor typed (80, 80.50 or 80,50) as an amount above zero and at most `most`;
    AmountError saying what is wrong otherwise."""
    text = text.strip()
    if not _TYPED.match(text):
        raise AmountError("write the amount in figures, e.g. 80.50")
    try:
        amount = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise AmountError("write the amount in figures, e.g. 80.50") from None
    if amount <= 0:
        raise AmountError("the amount must be more than zero")
    if amount > most:
        raise AmountError(f"the amount can be at most what is owed, {most} {currency}")
    to_minor_units(amount, currency)  # 80.505 EUR: refused here, never rounded
    return amount
