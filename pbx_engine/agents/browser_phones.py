"""Agents' browser phones: the desk's own softphone, a WebRTC endpoint in Asterisk made for the
agent when his desk asks for it and taken out when he lets it go.

Its password is new each time the desk asks, goes to that desk alone (its signed-in session),
and is kept nowhere: Asterisk holds only the digest credential. It is never typed, and a desk
that asks again replaces it. The endpoint is pushed to every node (the ARI client sends a
configuration change to all of them), so the node the phone registers on can ring it."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from yarl import URL

from pbx_engine.agents.softphones import (
    SIP_REALM,
    browser_endpoint_name,
    browser_phone_objects,
    new_sip_password,
)
from pbx_engine.ari.client import AriClient
from pbx_engine.ari.errors import AriError, AriUnavailable

log = structlog.get_logger(__name__)

PJSIP = "res_pjsip"


@dataclass(frozen=True)
class BrowserPhoneCredentials:
    """What a desk's phone registers with; shown to that desk only."""

    endpoint: str
    password: str
    realm: str

    def as_json(self) -> dict[str, str]:
        return {"endpoint": self.endpoint, "password": self.password, "realm": self.realm}


class BrowserPhones:
    def __init__(self, ari: AriClient, rtp_timeout: int) -> None:
        self._ari = ari
        self._rtp_timeout = rtp_timeout
        self._issued: dict[str, str] = {}  # login -> his browser phone's endpoint

    def endpoint_of(self, login: str) -> str | None:
        """His browser phone's endpoint, if his desk has one now."""
        return self._issued.get(login)

    async def issue(self, login: str, agent_id: int) -> BrowserPhoneCredentials:
        """A browser phone for the agent, with a new password (AriError, AriUnavailable)."""
        name = browser_endpoint_name(agent_id)
        password = new_sip_password()
        for obj in browser_phone_objects(name, password, self._rtp_timeout):
            await self._ari.put_config_object(PJSIP, obj.kind, obj.id, obj.fields)
        self._issued[login] = name
        log.info("browser_phone.issued", agent=login, endpoint=name)
        return BrowserPhoneCredentials(name, password, SIP_REALM)

    async def withdraw(self, login: str) -> None:
        """His browser phone out of Asterisk: its password opens nothing any more."""
        name = self._issued.pop(login, None)
        if name is None:
            return
        try:
            for kind in ("endpoint", "aor", "auth"):
                await self._ari.delete_config_object(PJSIP, kind, name)
        except (AriError, AriUnavailable) as error:
            # Its password went to one desk only; the next issue replaces it.
            log.warning("browser_phone.withdraw_failed", endpoint=name, error=str(error))
            return
        log.info("browser_phone.withdrawn", agent=login, endpoint=name)

    def websocket_url(self) -> URL:
        """Asterisk's SIP websocket on the node new phones go to (res_pjsip_transport_websocket
        on its HTTP server, which stays on the PBX's private side: browsers reach it only
        through the engine)."""
        return self._ari.sip_websocket_url(self._ari.node_for_new_call())
