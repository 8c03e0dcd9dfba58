"""Invitation links to a conference room: signed, expiring tokens (pure, no I/O).

The token (`pbx_engine.signed_tokens`, purpose INVITATION) carries the link's id, the room and
the expiry (Unix seconds). A link cannot be stretched or pointed at another room without the
secret. The signature only says the engine made it: the link's row in `room_invitations`
(found by its id) says whether it may still cause a call (uses left, not revoked, its room and
its maker still there).
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


class InvitationError(Exception):
    """Not a valid invitation: malformed, forged, or expired (the text says which)."""


@dataclass(frozen=True)
class Invitation:
    room: str
    expires_at: datetime
    id: str | None = None  # its row; None in links made before links were stored (refused)


def make_token(invitation: Invitation, secret: bytes) -> str:
    body: dict[str, object] = {
        "room": invitation.room,
        "exp": int(invitation.expires_at.timestamp()),
    }
    if invitation.id is not None:
        body["id"] = invitation.id
    return sign_token(TokenPurpose.INVITATION, body, secret)


def read_token(token: str, secret: bytes, now: datetime) -> Invitation:
    try:
        body = read_signed_token(TokenPurpose.INVITATION, token, secret)
        expires_at = datetime.fromtimestamp(int(body["exp"]), UTC)
        link_id = str(body["id"]) if "id" in body else None
        invitation = Invitation(str(body["room"]), expires_at, link_id)
    except ForgedToken:
        raise InvitationError("this invitation link is not valid") from None
    except (TokenError, ValueError, KeyError, TypeError):
        raise InvitationError("not an invitation link") from None
    if now >= invitation.expires_at:
        raise InvitationError("this invitation has expired")
    return invitation
