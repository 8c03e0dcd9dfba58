"""Unsubscribe links: a signed token naming the case and the address a message went to (pure).

`<payload>.<signature>`, both base64url; the payload is `case id` and `address` as JSON, the
signature HMAC-SHA256 under the engine's secret. It never expires: an opt-out link in a
message read months later must still work. Whoever holds it can only ever stop messages to
that one address, which is all the link is for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass


class UnsubscribeError(Exception):
    """Not an unsubscribe link of ours (malformed or forged)."""


@dataclass(frozen=True)
class Unsubscribe:
    case_id: int
    address: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(payload: str, secret: bytes) -> str:
    # A purpose prefix: an invitation's signature can never pass for an unsubscribe's.
    return _b64(hmac.new(secret, b"unsubscribe:" + payload.encode(), hashlib.sha256).digest())


def make_unsubscribe_token(case_id: int, address: str, secret: bytes) -> str:
    payload = _b64(json.dumps({"c": case_id, "a": address}, separators=(",", ":")).encode())
    return f"{payload}.{_sign(payload, secret)}"


def read_unsubscribe_token(token: str, secret: bytes) -> Unsubscribe:
    payload, dot, signature = token.partition(".")
    if not dot or not payload or not signature:
        raise UnsubscribeError("not an unsubscribe link")
    if not hmac.compare_digest(signature.encode(), _sign(payload, secret).encode()):
        raise UnsubscribeError("this unsubscribe link is not valid")
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return Unsubscribe(int(body["c"]), str(body["a"]))
    except (ValueError, KeyError, TypeError):
        raise UnsubscribeError("not an unsubscribe link") from None
