"""ARI errors. A channel already gone is ordinary traffic: `ChannelGone`, caught by flows."""

from __future__ import annotations


class AriError(Exception):
    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status
        self.method = method
        self.path = path
        self.message = message


class ChannelGone(AriError):
    """404/409/422 on a channel, bridge or playback: it hung up or left Stasis meanwhile."""


class UnsafeAriValue(AriError):
    """A request value (channel variable, appArgs, callerId, ...) holding a control character:
    refused before anything was sent, whoever gave the value."""

    def __init__(self, method: str, path: str, message: str) -> None:
        Exception.__init__(self, f"{method} {path} refused: {message}")
        self.status = 0
        self.method = method
        self.path = path
        self.message = message


class AriUnavailable(Exception):
    """Asterisk's HTTP server cannot be reached (down, restarting, wrong address)."""


class AriNotServing(AriUnavailable):
    """Asterisk answered 503: it is stopping (or not fully started), and did nothing with the
    request (its HTTP server refuses every request before any ARI resource sees it)."""


class AriRefused(AriUnavailable):
    """Asterisk's HTTP server answered, but refused the engine's ARI user (401/403)."""


# What to check when Asterisk refuses the user or cannot be reached: said at start and by
# `check-config --connect` alike.
REFUSED_FIX = "check [ari] username and password (they must match ari.conf)"
UNREACHABLE_FIX = "is Asterisk running with its HTTP server there? check [ari] url (http.conf)"


def refused(url: object, username: str, failure: str) -> AriRefused:
    return AriRefused(f"ARI at {url} refused user {username!r} ({failure}): {REFUSED_FIX}")


class AriProtocolError(Exception):
    """Asterisk sent something that is not an ARI event (not JSON, or not an object)."""


_GONE_STATUSES = {404, 409, 422}


def error_for(status: int, method: str, path: str, message: str) -> AriError | AriNotServing:
    """The exception for an error response: `ChannelGone` where ARI means 'no longer there',
    `AriNotServing` for the 503 Asterisk's HTTP server gives every request while it stops or
    starts."""
    if status == 503:
        return AriNotServing(f"{method} {path}: 503 Asterisk is stopping or starting")
    resource = path.strip("/").split("/", 1)[0]
    if status in _GONE_STATUSES and resource in ("channels", "bridges", "playbacks", "recordings"):
        return ChannelGone(status, method, path, message)
    return AriError(status, method, path, message)


def basic_auth(username: str, password: str) -> str:
    """An Authorization header value; credentials never go into the URL (`api_key=`)."""
    import base64

    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
