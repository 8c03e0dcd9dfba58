"""Invitation links to a conference room: signed, expiring tokens (pure, no I/O).

A token is `<payload>.<signature>`, both base64url: the payload is the link's id, the room and
the expiry (Unix seconds) as JSON, the signature its HMAC-SHA256 under the engine's secret. A
link cannot be stretched or pointed at another room without the secret. The signature only
says the engine made it: the link's row in `room_invitations` (found by its id) says whether
it may still cause a call (uses left, not revoked, its room and its maker still there).
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
    id: str | None = None  # its row; None in links made before links were stored (refused)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str, secret: bytes) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def make_token(invitation: Invitation, secret: bytes) -> str:
    body = {"room": invitation.room, "exp": int(invitation.expires_at.timestamp())}
    if invitation.id is not None:
        body["id"] = invitation.id
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
        expires_at = datetime.fromtimestamp(int(body["exp"]), UTC)
        link_id = str(body["id"]) if "id" in body else None
        invitation = Invitation(str(body["room"]), expires_at, link_id)
    except (ValueError, KeyError, TypeError):
        raise InvitationError("not an invitation link") from None
    if now >= invitation.expires_at:
        raise InvitationError("this invitation has expired")
    return invitation
