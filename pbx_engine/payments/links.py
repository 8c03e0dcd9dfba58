"""Payment links: a signed token naming the case and when the link stops working (pure).

The token (`pbx_engine.signed_tokens`, purpose PAY_LINK) carries the case id and an expiry in
whole seconds since the epoch. It expires, unlike an opt-out link: a link forwarded or found
months later should not still take money against a balance that may have changed hands, and a
message's next reminder carries a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pbx_engine.signed_tokens import (
    ForgedToken,
    TokenError,
    TokenPurpose,
    read_case_link,
    sign_case_link,
)


class PayLinkError(Exception):
    """Not a payment link of ours, or no longer valid: the message says which, for the debtor."""


@dataclass(frozen=True)
class PayLink:
    case_id: int
    expires_at: datetime


def make_pay_token(case_id: int, expires_at: datetime, secret: bytes) -> str:
    return sign_case_link(TokenPurpose.PAY_LINK, case_id, expires_at, secret)


def read_pay_token(token: str, secret: bytes, now: datetime) -> PayLink:
    """The link's case and expiry; PayLinkError if it is forged, malformed or expired."""
    try:
        link = PayLink(*read_case_link(TokenPurpose.PAY_LINK, token, secret))
    except ForgedToken:
        raise PayLinkError("this payment link is not valid") from None
    except (TokenError, ValueError):
        raise PayLinkError("this is not a payment link") from None
    if now >= link.expires_at:
        raise PayLinkError("this payment link has expired: ask us for a new one")
    return link
