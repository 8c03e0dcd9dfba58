"""The ICE servers a browser phone is given (pure): STUN as configured, and TURN with coturn's
time-limited credentials (its `use-auth-secret` scheme): the user name is the expiry and the
phone's endpoint, the password the base64 HMAC-SHA1 of that name under the shared secret. coturn
checks both without asking anyone, and the credential stops working when it expires."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from pbx_engine.config import WebrtcConfig

_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class IceServers:
    servers: tuple[dict[str, object], ...]
    relay_only: bool

    def as_json(self) -> dict[str, object]:
        """As the page's RTCPeerConnection takes them."""
        return {
            "ice_servers": list(self.servers),
            "ice_transport_policy": "relay" if self.relay_only else "all",
        }


def turn_credential(secret: str, user: str, expires_at: datetime) -> tuple[str, str]:
    """(user name, password) that coturn's `use-auth-secret` accepts until `expires_at`."""
    username = f"{int(expires_at.timestamp())}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers_for(config: WebrtcConfig, user: str, now: datetime) -> IceServers:
    servers: list[dict[str, object]] = []
    if config.stun_urls:
        servers.append({"urls": list(config.stun_urls)})
    if config.turn_urls and config.turn_secret is not None:
        expires_at = now + config.turn_credential_hours * _HOUR
        username, password = turn_credential(
            config.turn_secret.get_secret_value(), user, expires_at
        )
        servers.append(
            {"urls": list(config.turn_urls), "username": username, "credential": password}
        )
    return IceServers(tuple(servers), config.relay_only)
