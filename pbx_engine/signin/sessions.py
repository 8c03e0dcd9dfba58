"""Browser sessions: a random id in an HttpOnly cookie, its SHA-256 in the database, and a CSRF
token that every state-changing request echoes in `X-CSRF-Token`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

COOKIE = "pbx_session"
CSRF_HEADER = "X-CSRF-Token"
LIFETIME = timedelta(hours=12)  # a shift, with room
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class NewSession:
    session_id: str  # goes to the browser only
    id_sha256: str  # goes to the database only
    csrf_token: str
    expires_at: datetime


def new_session(now: datetime, lifetime: timedelta = LIFETIME) -> NewSession:
    session_id = secrets.token_urlsafe(32)
    return NewSession(
        session_id, session_digest(session_id), secrets.token_urlsafe(24), now + lifetime
    )


def session_digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_ok(method: str, expected: str, sent: str | None) -> bool:
    """Reads pass; a state-changing request must carry the session's token."""
    if method.upper() in SAFE_METHODS:
        return True
    return bool(sent) and hmac.compare_digest(expected.encode(), (sent or "").encode())


def same_origin(origin: str | None, host: str | None) -> bool:
    """A websocket upgrade carries no CSRF header; its Origin must be the page's own host
    (no Origin at all: not a browser, and the cookie alone is then the credential)."""
    if origin is None:
        return True
    _, _, rest = origin.partition("://")
    return bool(host) and rest.rstrip("/") == host


def login_digest(login: str) -> str:
    """What the log says of a login typed at a failed sign-in: a mistyped password in the
    login field must not end up in the log in clear."""
    return hashlib.sha256(login.encode()).hexdigest()[:12]
