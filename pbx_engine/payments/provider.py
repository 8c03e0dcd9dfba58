"""What the engine asks of a payment provider, whichever it is: start a payment of an amount
on a case, look one up, and read the provider's signed notice that one went through."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


class PaymentProviderError(Exception):
    """The provider refused or could not be reached; the message is for the log."""


class NoticeRefused(Exception):
    """A notice that is not the provider's: unsigned, signed under another secret, stale."""


@dataclass(frozen=True)
class Checkout:
    """A payment started at the provider: the debtor's browser finishes it there."""

    reference: str  # the provider's id for it (Stripe: the PaymentIntent's pi_...)
    client_secret: str  # what the provider's script in the page needs to finish it


@dataclass(frozen=True)
class ProviderPayment:
    """A payment as the provider reports it."""

    reference: str
    case_id: int | None  # from what the engine attached when it started the payment
    amount: Decimal
    currency: str
    succeeded: bool


@dataclass(frozen=True)
class BrowserSide:
    """What the payment page needs to load the provider's card fields: its script, the key the
    script uses, and the origins the page's content security policy must let in."""

    script_url: str
    publishable_key: str
    script_origins: tuple[str, ...]
    frame_origins: tuple[str, ...]
    connect_origins: tuple[str, ...]


class PaymentProvider(Protocol):
    name: str

    async def start(
        self, case_id: int, amount: Decimal, currency: str, reference: str
    ) -> Checkout: ...

    async def lookup(self, reference: str) -> ProviderPayment | None: ...

    def read_notice(
        self, body: bytes, headers: dict[str, str], now: float
    ) -> ProviderPayment | None:
        """The payment a notice (a webhook) reports, None for a notice of something else;
        NoticeRefused if it is not the provider's."""
        ...

    def browser_side(self) -> BrowserSide: ...
