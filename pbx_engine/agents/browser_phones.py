"""Agents' browser phones: the desk's own softphone, a WebRTC endpoint in Asterisk made for the
agent when his desk asks for it and taken out when he lets it go.

Its password is new each time the desk asks, goes to that desk alone (its signed-in session),
and is kept nowhere: Asterisk holds only the digest credential. It is never typed, and a desk
that asks again replaces it. The endpoint is pushed to every node (the ARI client sends a
configuration change to all of them), so the node the phone registers on can ring it.

Each phone is on record (`storage.browser_phones`) under the run of the engine that made it,
from before it is pushed until it is taken out. A crash forgets the phones in memory; the next
run (or the engine that takes the crashed one over) takes out those of earlier runs that carry
no call (`withdraw_left`), as it does every hour: Asterisk's astdb would keep them for ever,
one for each widget caller whose page closed without a word."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from yarl import URL

from pbx_engine.agents.ice import IceServers, ice_servers_for
from pbx_engine.agents.softphones import (
    SIP_REALM,
    browser_endpoint_name,
    browser_phone_objects,
    guest_endpoint_name,
    new_sip_password,
)
from pbx_engine.ari.client import AriClient
from pbx_engine.ari.dialstrings import endpoint_dial_string
from pbx_engine.ari.errors import AriError, AriUnavailable
from pbx_engine.config import WebrtcConfig
from pbx_engine.recordkeeper.outbox import is_unreachable
from pbx_engine.storage.browser_phones import BrowserPhoneRecords, PhoneOnRecord

log = structlog.get_logger(__name__)

PJSIP = "res_pjsip"


@dataclass(frozen=True)
class BrowserPhoneCredentials:
    """What a page's phone registers with, and its ICE servers; shown to that page only."""

    endpoint: str
    password: str
    realm: str
    ice: IceServers

    def as_json(self) -> dict[str, object]:
        return {
            "endpoint": self.endpoint,
            "password": self.password,
            "realm": self.realm,
            **self.ice.as_json(),
        }


# What a call from the website widget says it was made to (where a DID would be).
WIDGET_DID = "widget"


def widget_ticket(case_id: int | None) -> str:
    """What a widget caller's phone is made for: the case the engine identified, if any."""
    return f"widget:{case_id or ''}"


def is_widget_ticket(ticket: str | None) -> bool:
    """Whether a guest phone's ticket is a widget caller's (else: an invitation's, or none)."""
    return ticket is not None and ticket.partition(":")[0] == "widget"


def ticket_case(ticket: str) -> int | None:
    """The case in a widget caller's ticket (None: an unidentified caller, or no such ticket)."""
    rest = ticket.partition(":")[2]
    return int(rest) if is_widget_ticket(ticket) and rest.isdigit() else None


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LeftPhones:
    withdrawn: list[str]  # taken out of Asterisk and off the record
    kept: list[str]  # on a call: a later sweep takes them


def phones_to_withdraw(
    left: Iterable[PhoneOnRecord], channel_names: Iterable[str]
) -> list[PhoneOnRecord]:
    """Of the phones an earlier run left on record, those to take out of Asterisk: every one
    that carries no call now (a channel `PJSIP/<endpoint>-<n>`). One on a call stays until the
    call ends (an adopted agent's shift leg, a guest talking): a later sweep takes it."""
    on_calls = {
        name.removeprefix("PJSIP/").rpartition("-")[0]
        for name in channel_names
        if name.startswith("PJSIP/")
    }
    return [phone for phone in left if phone.endpoint not in on_calls]


class BrowserPhones:
    def __init__(
        self,
        ari: AriClient,
        records: BrowserPhoneRecords,
        engine: str,
        rtp_timeout: int,
        webrtc: WebrtcConfig | None = None,
        clock: Callable[[], datetime] = _now,
        life: str | None = None,
    ) -> None:
        self._ari = ari
        self._records = records
        self._engine = engine
        # This run's mark on the phones it makes (the engine's own, its beat's; a fresh one
        # without): those of other marks were an earlier run's.
        self.life = life or uuid.uuid4().hex[:8]
        # An agent's endpoint keeps its name from run to run: the sweep of an earlier run's
        # must not delete it as this run pushes it again.
        self._pushing = asyncio.Lock()
        self._rtp_timeout = rtp_timeout
        # The ICE servers phones are given from now on ([webrtc]; a test may swap them).
        self.webrtc = webrtc or WebrtcConfig()
        self._clock = clock
        self._issued: dict[str, str] = {}  # login -> his browser phone's endpoint
        # A guest's endpoint -> what it was made for: an invitation's id, or a widget caller's
        # ticket (`widget_ticket`).
        self._guests: dict[str, str] = {}

    def endpoint_of(self, login: str) -> str | None:
        """His browser phone's endpoint, if his desk has one now."""
        return self._issued.get(login)

    async def issue(self, login: str, agent_id: int) -> BrowserPhoneCredentials:
        """A browser phone for the agent, with a new password (AriError, AriUnavailable)."""
        name = browser_endpoint_name(agent_id)
        async with self._pushing:
            await self._records.issued(name, self._engine, self.life, login=login)
            issued = await self._push(name, guest=False)
        self._issued[login] = issued.endpoint
        log.info("browser_phone.issued", agent=login, endpoint=issued.endpoint)
        return issued

    async def issue_guest(self, made_for: str) -> BrowserPhoneCredentials:
        """A browser phone for a guest (who opened an invitation link, or a debtor calling from
        the website widget): it can only be rung, never dial. `made_for`: the invitation's id,
        or `widget_ticket(...)`."""
        name = guest_endpoint_name()
        await self._records.issued(name, self._engine, self.life, made_for=made_for)
        try:
            issued = await self._push(name, guest=True)
        except (AriError, AriUnavailable):
            await self._delete(name, self.life)  # what was pushed of it; off the record
            raise
        self._guests[issued.endpoint] = made_for
        log.info("browser_phone.guest_issued", made_for=made_for, endpoint=issued.endpoint)
        return issued

    def invitation_of(self, guest_endpoint: str) -> str | None:
        """What a guest's browser phone was made for (None: not one of ours)."""
        return self._guests.get(guest_endpoint)

    async def ring_inbound(self, guest_endpoint: str, case_id: int | None) -> str:
        """Ring a widget caller's browser into the app as an inbound call (the debtor menu,
        then his owner or the queue, as `pbx_engine.routing` takes any inbound call): the
        channel's id. The case is the one the engine identified, never the page's word."""
        channel_id = f"web-{uuid.uuid4().hex[:16]}"
        await self._ari.originate(
            endpoint_dial_string(guest_endpoint),
            app=self._ari.app,
            app_args=["inbound", "", WIDGET_DID, str(case_id or "")],
            channel_id=channel_id,
            timeout=30,
        )
        log.info("browser_phone.rung_inbound", endpoint=guest_endpoint, case_id=case_id)
        return channel_id

    async def _push(self, name: str, *, guest: bool) -> BrowserPhoneCredentials:
        password = new_sip_password()
        webrtc = self.webrtc
        for obj in browser_phone_objects(
            name,
            password,
            self._rtp_timeout,
            guest=guest,
            dtls_certificate=webrtc.dtls_certificate,
            dtls_private_key=webrtc.dtls_private_key,
        ):
            await self._ari.put_config_object(PJSIP, obj.kind, obj.id, obj.fields)
        ice = ice_servers_for(webrtc, name, self._clock())
        return BrowserPhoneCredentials(name, password, SIP_REALM, ice)

    async def withdraw(self, login: str) -> None:
        """His browser phone out of Asterisk: its password opens nothing any more."""
        name = self._issued.pop(login, None)
        if name is not None:
            await self._delete(name, self.life)
            log.info("browser_phone.withdrawn", agent=login, endpoint=name)

    async def withdraw_guest(self, endpoint: str) -> None:
        """A guest's browser phone out of Asterisk (he left, or his page closed)."""
        if self._guests.pop(endpoint, None) is not None:
            await self._delete(endpoint, self.life)
            log.info("browser_phone.guest_withdrawn", endpoint=endpoint)

    async def withdraw_left(self) -> LeftPhones:
        """Take out of Asterisk the phones earlier runs of this engine (or engines it took over)
        left on record, but for those that carry a call now."""
        left = await self._records.left(self._engine, self.life)
        if not left:
            return LeftPhones([], [])
        names = [channel.name for channel in await self._ari.list_channels()]
        going = phones_to_withdraw(left, names)
        withdrawn = []
        for phone in going:
            async with self._pushing:
                if phone.endpoint in self._issued.values():
                    continue  # pushed again by this run since it was read
                if await self._delete(phone.endpoint, phone.life):
                    withdrawn.append(phone.endpoint)
        kept = [phone.endpoint for phone in left if phone not in going]
        log.info("browser_phone.left_withdrawn", withdrawn=len(withdrawn), on_calls=len(kept))
        return LeftPhones(withdrawn, kept)

    async def _delete(self, name: str, life: str) -> bool:
        """Out of Asterisk, then off the record (its row made by the run `life`); whether it is
        gone."""
        try:
            for kind in ("endpoint", "aor", "auth"):
                await self._ari.delete_config_object(PJSIP, kind, name)
        except (AriError, AriUnavailable) as error:
            # Its password went to one page only; nobody else can use it. Kept on record: a
            # later sweep takes it out.
            log.warning("browser_phone.withdraw_failed", endpoint=name, error=str(error))
            return False
        try:
            await self._records.withdrawn(name, life)
        except Exception as error:
            if not is_unreachable(error):
                raise
            # Out of Asterisk all the same; the row left makes a later sweep delete it again.
            log.warning("browser_phone.record_not_cleared", endpoint=name, error=str(error))
        return True

    def websocket_url(self, node: str | None = None) -> URL:
        """Asterisk's SIP websocket on `node`, else on the node new phones go to
        (res_pjsip_transport_websocket on its HTTP server, which stays on the PBX's private
        side: browsers reach it only through the engine)."""
        return self._ari.sip_websocket_url(node or self._ari.node_for_new_call())
