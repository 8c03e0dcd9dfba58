"""The signed case link a creditor puts in his page for the widget (pure): it names the case,
so a debtor who opens it is identified without typing anything but his number, and it expires.
It lets the page ask for a call back to a number of that case, nothing more: it shows no
balance and takes no money (the payment link does that)."""

from __future__ import annotations

from datetime import datetime

from pbx_engine.signed_tokens import (
    ForgedToken,
    TokenError,
    TokenPurpose,
    read_case_link,
    sign_case_link,
)


class CaseLinkError(Exception):
    """Not a widget case link of ours, or expired: the message says which, for the debtor."""


def make_case_token(case_id: int, expires_at: datetime, secret: bytes) -> str:
    return sign_case_link(TokenPurpose.WIDGET_CASE, case_id, expires_at, secret)


def read_case_token(token: str, secret: bytes, now: datetime) -> int:
    """The link's case; CaseLinkError if it is forged, malformed or expired."""
    try:
        case_id, expires_at = read_case_link(TokenPurpose.WIDGET_CASE, token, secret)
    except ForgedToken:
        raise CaseLinkError("this link is not valid") from None
    except (TokenError, ValueError):
        raise CaseLinkError("this is not a link of ours") from None
    if now >= expires_at:
        raise CaseLinkError("this link has expired: call us, or ask for a new one")
    return case_id
