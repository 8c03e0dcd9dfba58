"""Signed tokens for the links the engine hands out (pure, no I/O): a conference invitation, an
e-mail's opt-out link, an SMS's delivery-report path, a payment link, a widget's case link. Each
purpose reads its own fields out of the JSON object it gets back (links naming a case and an
expiry share `sign_case_link` and `read_case_link`).

A token is `<payload>.<signature>`, both base64url without padding: the payload is a JSON
object, the signature HMAC-SHA256 under the engine's secret over the purpose's prefix and the
payload. The prefix keeps a token made for one purpose from ever passing for another's: a
payload is base64url (refused otherwise, before its signature is checked), which never holds
the ':' a prefix ends with, so no payload signed for one purpose can be another's prefix and
payload.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum, unique
from typing import Any


@unique
class TokenPurpose(Enum):
    # Invitations were signed before there was a second purpose, with no prefix: kept so, the
    # links already handed out still work (and a payload alone never holds a ':').
    INVITATION = b""
    UNSUBSCRIBE = b"unsubscribe:"
    SMS_RECEIPT = b"smsreceipt:"
    PAY_LINK = b"paylink:"
    WIDGET_CASE = b"widgetcase:"


class TokenError(Exception):
    """Not a token of ours for this purpose."""


class MalformedToken(TokenError):
    """Not shaped like a token: no signature, not base64url, not a JSON object."""


class ForgedToken(TokenError):
    """Its signature is not ours for this purpose: altered, made under another secret, or
    made for another purpose."""


_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signature(purpose: TokenPurpose, payload: str, secret: bytes) -> str:
    return _b64(hmac.new(secret, purpose.value + payload.encode(), hashlib.sha256).digest())


def sign_token(purpose: TokenPurpose, body: Mapping[str, Any], secret: bytes) -> str:
    payload = _b64(json.dumps(dict(body), separators=(",", ":")).encode())
    return f"{payload}.{_signature(purpose, payload, secret)}"


def read_signed_token(purpose: TokenPurpose, token: str, secret: bytes) -> dict[str, Any]:
    """The JSON object the token carries; MalformedToken or ForgedToken if it is none of ours
    for `purpose`."""
    payload, dot, signature = token.partition(".")
    if not dot or not signature or not _BASE64URL.match(payload):
        raise MalformedToken()
    # As bytes: compare_digest refuses str with non-ASCII characters (anyone can send those).
    if not hmac.compare_digest(signature.encode(), _signature(purpose, payload, secret).encode()):
        raise ForgedToken()
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        raise MalformedToken() from None
    if not isinstance(body, dict):
        raise MalformedToken()
    return body


def sign_case_link(purpose: TokenPurpose, case_id: int, expires_at: datetime, secret: bytes) -> str:
    """A link's token naming a case until `expires_at` (a payment link, a widget link)."""
    return sign_token(purpose, {"c": case_id, "e": int(expires_at.timestamp())}, secret)


def read_case_link(purpose: TokenPurpose, token: str, secret: bytes) -> tuple[int, datetime]:
    """The case and expiry such a token names: ForgedToken when it is not ours, TokenError or
    ValueError when it is no such token."""
    body = read_signed_token(purpose, token, secret)
    case_id, expires = body.get("c"), body.get("e")
    if type(case_id) is not int or type(expires) is not int or case_id <= 0:
        raise ValueError(body)
    try:
        return case_id, datetime.fromtimestamp(expires, UTC)
    except (OverflowError, OSError) as error:
        raise ValueError(body) from error
