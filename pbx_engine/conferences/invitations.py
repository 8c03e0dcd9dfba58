"""Invitation links to a conference room: signed, expiring tokens (pure, no I/O).

A token is `<payload>.<signature>`, both base64url: the payload is the room and the expiry (Unix
seconds) as JSON, the signature its HMAC-SHA256 under the engine's secret. Whoever holds a
valid token may join the room until it expires; nothing is stored, so nothing needs cleaning
up, and a link cannot be stretched or pointed at another room without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime


class InvitationError(Exception):
    """Not a valid invitation: malformed, forged, or expired (the text says which)."""


@dataclass(frozen=True)
class Invitation:
    room: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str, secret: bytes) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def make_token(invitation: Invitation, secret: bytes) -> str:
    body = {"room": invitation.room, "exp": int(invitation.expires_at.timestamp())}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_sign(payload, secret)}"


def read_token(token: str, secret: bytes, now: datetime) -> Invitation:
    payload, dot, signature = token.partition(".")
    if not dot or not payload or not signature:
        raise InvitationError("not an invitation link")
    # As bytes: compare_digest refuses str with non-ASCII characters (anyone can send those).
    if not hmac.compare_digest(signature.encode(), _sign(payload, secret).encode()):
        raise InvitationError("this invitation link is not valid")
    try:
        body = json.loads(_unb64(payload))
        invitation = Invitation(str(body["room"]), datetime.fromtimestamp(int(body["exp"]), UTC))
    except (ValueError, KeyError, TypeError):
        raise InvitationError("not an invitation link") from None
    if now >= invitation.expires_at:
        raise InvitationError("this invitation has expired")
    return invitation
