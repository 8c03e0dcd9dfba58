"""The call flows that take a channel entering our Stasis app unowned, one for each first
Stasis argument (the composition root maps them in a `StasisRouter`): a caller to one of our
numbers (a room's, else the inbound flow), a number a softphone dialled that is no feature code,
an agent's login from his phone, and the fallback for strays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog

from pbx_engine.agents.service import AgentService
from pbx_engine.ari import AriClient
from pbx_engine.ari.events import StasisStart
from pbx_engine.ari.router import stasis_arg
from pbx_engine.conferences.room_service import RoomService
from pbx_engine.conferences.rooms import Room
from pbx_engine.routing.service import InboundService
from pbx_engine.tasks import OwnedTasks

log = structlog.get_logger(__name__)

RoomLookup = Callable[[str], Room | None]  # the room answering to a DID or an extension


@dataclass(frozen=True)
class RoomCall:
    room: Room
    caller: str | None


def room_called(start: StasisStart, lookup: RoomLookup) -> RoomCall | None:
    """`inbound,CALLER,DID,CASE_ID`: the room whose DID was called, else None (the inbound
    flow's)."""
    did = stasis_arg(start, 2)
    room = lookup(did) if did else None
    return RoomCall(room, stasis_arg(start, 1) or None) if room is not None else None


def room_dialled(start: StasisStart, lookup: RoomLookup) -> RoomCall | None:
    """`dialled,NUMBER`: the room whose extension a softphone dialled, else None (refused)."""
    number = stasis_arg(start, 1)
    room = lookup(number) if number else None
    return RoomCall(room, start.channel.caller.number or None) if room is not None else None


class ChannelEntries:
    def __init__(
        self, ari: AriClient, agents: AgentService, inbound: InboundService, rooms: RoomService
    ) -> None:
        self._ari = ari
        self._agents = agents
        self._inbound = inbound
        self._rooms = rooms
        self._tasks = OwnedTasks()

    async def close(self) -> None:
        await self._tasks.close()

    def inbound(self, start: StasisStart) -> None:
        """A room's DID puts the caller in the room; any other number is the inbound flow's."""
        if call := room_called(start, self._rooms.room_for_number):
            self._rooms.accept(start.channel.id, call.room, call.caller)
        else:
            self._inbound.accept(start)

    def dialled(self, start: StasisStart) -> None:
        """A room's extension, or nothing we know (an error tone)."""
        if call := room_dialled(start, self._rooms.room_for_number):
            self._rooms.accept(start.channel.id, call.room, call.caller)
        else:
            self._tasks.spawn(self._agents.refuse(start.channel.id))

    def agent_login(self, start: StasisStart) -> None:
        """`agent-login,ENDPOINT`: the login feature code, dialled from the agent's phone."""
        endpoint = stasis_arg(start, 1)
        self._tasks.spawn(self._agents.login_from_phone(start.channel.id, endpoint))

    def unowned(self, start: StasisStart) -> None:
        """Anything else (a leftover after a restart) must not hang in Stasis forever."""
        log.warning("engine.unowned_channel", channel_id=start.channel.id, args=start.args)
        self._tasks.spawn(self._ari.hangup(start.channel.id))
