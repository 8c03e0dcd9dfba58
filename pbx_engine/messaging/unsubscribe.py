"""Unsubscribe links: a signed token naming the case and the address a message went to (pure).

The token (`pbx_engine.signed_tokens`, purpose UNSUBSCRIBE) carries `case id` and `address`. It
never expires: an opt-out link in a message read months later must still work. Whoever holds it
can only ever stop messages to that one address, which is all the link is for.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbx_engine.signed_tokens import (
    ForgedToken,
    TokenError,
    TokenPurpose,
    read_signed_token,
    sign_token,
)


class UnsubscribeError(Exception):
    """Not an unsubscribe link of ours (malformed or forged)."""


@dataclass(frozen=True)
class Unsubscribe:
    case_id: int
    address: str


def make_unsubscribe_token(case_id: int, address: str, secret: bytes) -> str:
    return sign_token(TokenPurpose.UNSUBSCRIBE, {"c": case_id, "a": address}, secret)


def read_unsubscribe_token(token: str, secret: bytes) -> Unsubscribe:
    try:
        body = read_signed_token(TokenPurpose.UNSUBSCRIBE, token, secret)
        return Unsubscribe(int(body["c"]), str(body["a"]))
    except ForgedToken:
        raise UnsubscribeError("this unsubscribe link is not valid") from None
    except (TokenError, ValueError, KeyError, TypeError):
        raise UnsubscribeError("not an unsubscribe link") from None
