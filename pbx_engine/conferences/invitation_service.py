"""Invitation links to a room, as rows: minting one within the `[outbound]` limits, listing and
revoking a room's, checking that a link may still cause a call, and the call it causes (a use
of the link claimed once the call has a seat, given back if nothing rang). And the record of
every room action, by anyone.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from pbx_engine.conferences.invitations import Invitation, InvitationError, make_token, read_token
from pbx_engine.conferences.room_service import Member, RoomError, RoomService
from pbx_engine.config import OutboundConfig
from pbx_engine.outbound.gate import DialAsk, OutboundRefused
from pbx_engine.outbound.policy import Purpose
from pbx_engine.refusals import Refused
from pbx_engine.storage import Storage
from pbx_engine.storage.invitations import InvitationRow
from pbx_engine.storage.models import AgentRow
from pbx_engine.storage.outbound import RoomAction

log = structlog.get_logger(__name__)


class InvitationRefused(Refused):
    """A link that cannot be minted, revoked or used as asked (the text says why)."""


@dataclass(frozen=True)
class MintedLink:
    id: str
    token: str  # the link's last part: /join/<token>
    expires_at: datetime
    max_uses: int


class InvitationService:
    def __init__(
        self,
        storage: Storage,
        rooms: RoomService,
        secret: bytes,
        limits: OutboundConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._storage = storage
        self._rooms = rooms
        self._secret = secret
        self._limits = limits
        self._clock = clock

    async def mint(
        self, room: str, maker: AgentRow, valid_seconds: int, max_uses: int | None
    ) -> MintedLink:
        limits = self._limits
        if valid_seconds > limits.invitation_max_days * 86400:
            raise InvitationRefused(
                f"a link lasts at most {limits.invitation_max_days:g} days", 422
            )
        uses = max_uses or limits.invitation_default_uses
        if uses > limits.invitation_max_uses:
            raise InvitationRefused(
                f"a link causes at most {limits.invitation_max_uses} calls", 422
            )
        expires_at = self._clock().replace(microsecond=0) + timedelta(seconds=valid_seconds)
        row = await self._storage.invitations.create(
            secrets.token_urlsafe(12), room, maker.id, expires_at, uses
        )
        token = make_token(Invitation(room, expires_at, row.id), self._secret)
        return MintedLink(row.id, token, expires_at, uses)

    async def of_room(self, room: str) -> list[InvitationRow]:
        return await self._storage.invitations.of_room(room)

    async def revoke(self, link_id: str, room: str) -> None:
        if not await self._storage.invitations.revoke(link_id, room, self._clock()):
            raise InvitationRefused("no live invitation with that id in this room", 404)

    async def live(self, token: str) -> Invitation:
        """The link's invitation while it may cause a call; InvitationRefused (403 for a link
        never valid, 410 for one that was) with the text a guest reads."""
        now = self._clock()
        try:
            invitation = read_token(token, self._secret, now)
        except InvitationError as error:
            raise InvitationRefused(str(error), 410 if "expired" in str(error) else 403) from None
        if invitation.id is None:
            raise InvitationRefused("This invitation link is no longer valid", 403)
        row = await self._storage.invitations.get(invitation.id)
        if row is None or row.room != invitation.room or self._rooms.room(row.room) is None:
            raise InvitationRefused("This invitation was withdrawn", 410)
        if row.revoked_at is not None:
            raise InvitationRefused("This invitation was withdrawn", 410)
        if not row.live(now):
            raise InvitationRefused("This invitation has been used up", 410)
        return invitation

    async def call_in(
        self, invitation: Invitation, number: str, address: str
    ) -> Coroutine[Any, Any, Member]:
        """Ring `number` into the invitation's room: a seat is taken, the outbound policy
        passed and a use of the link claimed before it rings (RoomError, OutboundRefused
        else, the use given back). Returns the ringing, to be awaited."""
        assert invitation.id is not None
        links, link_id = self._storage.invitations, invitation.id
        claimed = False

        async def claim() -> bool:  # a use of the link, once the call has a seat in the room
            nonlocal claimed
            claimed = await links.use(link_id, self._clock()) is not None
            return claimed

        ask = DialAsk(
            Purpose.INVITATION,
            number,
            invitation_id=link_id,
            client_address=address,
            room=invitation.room,
        )
        try:
            return await self._rooms.start_dial(
                invitation.room, number, via="invitation", ask=ask, claim=claim
            )
        except (RoomError, OutboundRefused):
            if claimed:
                await links.give_back(link_id)  # nothing rang: the use is not spent
            raise

    async def record_action(
        self, room: str, action: str, target: str | None, by: AgentRow | None, address: str | None
    ) -> None:
        """Every room action, by anyone (an agent moderating his room too), on record."""
        log.info(
            "room.action", room=room, action=action, agent=by.login if by else None, address=address
        )
        await self._storage.outbound.record_room_action(
            self._clock(), room, action, target, by.id if by else None, address
        )

    async def actions(self, room: str) -> list[RoomAction]:
        return await self._storage.outbound.room_actions(room)
