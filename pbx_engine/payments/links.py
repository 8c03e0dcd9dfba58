"""Payment links: a signed token naming the case and when the link stops working (pure).

The token (`pbx_engine.signed_tokens`, purpose PAY_LINK) carries the case id and an expiry in
whole seconds since the epoch. It expires, unlike an opt-out link: a link forwarded or found
months later should not still take money against a balance that may have changed hands, and a
message's next reminder carries a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pbx_engine.signed_tokens import (
    ForgedToken,
    TokenError,
    TokenPurpose,
    read_signed_token,
    sign_token,
)


class PayLinkError(Exception):
    """Not a payment link of ours, or no longer valid: the message says which, for the debtor."""


@dataclass(frozen=True)
class PayLink:
    case_id: int
    expires_at: datetime


def make_pay_token(case_id: int, expires_at: datetime, secret: bytes) -> str:
    return sign_token(
        TokenPurpose.PAY_LINK, {"c": case_id, "e": int(expires_at.timestamp())}, secret
    )


def read_pay_token(token: str, secret: bytes, now: datetime) -> PayLink:
    """The link's case and expiry; PayLinkError if it is forged, malformed or expired."""
    try:
        body = read_signed_token(TokenPurpose.PAY_LINK, token, secret)
        case_id, expires = body["c"], body["e"]
        if type(case_id) is not int or type(expires) is not int or case_id <= 0:
            raise ValueError(body)
        link = PayLink(case_id, datetime.fromtimestamp(expires, UTC))
    except ForgedToken:
        raise PayLinkError("this payment link is not valid") from None
    except (TokenError, ValueError, KeyError, TypeError, OverflowError, OSError):
        raise PayLinkError("this is not a payment link") from None
    if now >= link.expires_at:
        raise PayLinkError("this payment link has expired: ask us for a new one")
    return link
