"""Named conference rooms on the PBX: one mixing bridge per room with anyone in it.

Callers reach a room by dialling its DID from outside or its extension from a softphone; the
engine also dials people in (an API request, or a participant who opened an invitation link).
Every call the engine rings into a room holds a seat from before it rings until it answers or
fails (reserved under the room's lock), and passes the outbound policy; PINs of rooms made
through the API are stored as scrypt hashes.
A room that asks for a PIN prompts for it (`#` ends it; keys typed ahead count) and gives
three tries. Members entering and leaving are announced with a tone to the room; the
moderator (by PIN, or the room's moderator agent through the API) may mute and kick.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

import structlog

from pbx_engine.ari import AriClient, AriError
from pbx_engine.ari.calls import NotAnswered, ring_into_app
from pbx_engine.ari.dialstrings import target_dial_string
from pbx_engine.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    PlaybackFinished,
    StasisEnd,
)
from pbx_engine.ari.node_links import NodeLinks
from pbx_engine.ari.nodes import on_node
from pbx_engine.conferences.rooms import Refusal, Room, admit, hash_pin, is_hashed
from pbx_engine.outbound.gate import DialAsk, OutboundGate
from pbx_engine.outbound.policy import Purpose, RoomLoad, room_has_slot
from pbx_engine.refusals import Refused
from pbx_engine.storage import Storage
from pbx_engine.tasks import OwnedTasks

log = structlog.get_logger(__name__)

PIN_TRIES = 3
PIN_TIMEOUT = 10.0  # seconds to key a PIN after the prompt
JOIN_TONE, LEAVE_TONE = "sound:confbridge-join", "sound:confbridge-leave"


class RoomError(Refused):
    """A room request that cannot be met."""


@dataclass
class Member:
    id: str  # the member's channel
    room: str
    joined_at: datetime
    moderator: bool
    caller: str | None
    via: str  # dial-in | dialled | invitation
    muted: bool = False

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "caller": self.caller,
            "via": self.via,
            "moderator": self.moderator,
            "muted": self.muted,
            "joined_at": self.joined_at.isoformat(),
        }


class RoomService:
    def __init__(
        self,
        ari: AriClient,
        storage: Storage,
        rooms: list[Room],
        *,
        trunk: str,
        caller_id: str | None = None,
        answer_timeout: float = 30.0,
        outbound: OutboundGate | None = None,
        allowed_dids: frozenset[str] | None = None,
        links: NodeLinks | None = None,
    ) -> None:
        self._ari = ari
        # A caller who reaches another node than the room's bridge joins it through a link.
        self._links = links or NodeLinks(ari, {}, "")
        self._outbound = outbound
        # DIDs a room made through the API may have (None: any, for tools and tests).
        self._allowed_dids = allowed_dids
        self._ringing: dict[str, int] = {}  # room -> calls rung into it, not answered yet
        self._ringing_channels: dict[str, set[str]] = {}  # room -> those calls' channels
        self._storage = storage
        self._rooms: dict[str, Room] = {room.name: room for room in rooms}
        self._trunk = trunk
        self._caller_id = caller_id
        self._answer_timeout = answer_timeout
        self._members: dict[str, dict[str, Member]] = {}  # room -> channel -> member
        self._bridges: dict[str, str] = {}  # room -> its bridge, while anyone is in it
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks = OwnedTasks()

    async def load(self) -> None:
        """Add the rooms made through the API (stored) to those of the config file; PINs
        stored plain (rooms made before they were hashed) are hashed now, on record too. A
        stored DID no longer in the allowed list takes no calls (the room keeps the rest)."""
        for row in await self._storage.rooms.stored_rooms():
            if row.name in self._rooms:
                continue
            did = row.did
            if did and self._allowed_dids is not None and did not in self._allowed_dids:
                log.warning("room.did_not_allowed", room=row.name, did=did)
                row = replace(row, did=None)
            pins = {"pin": row.pin, "moderator_pin": row.moderator_pin}
            plain = {k: pin for k, pin in pins.items() if pin and not is_hashed(pin)}
            if plain:
                hashed = await asyncio.to_thread(_hash_pins, plain)
                row = replace(row, **hashed)
                await self._storage.room_pins.set_pins(row.name, row.pin, row.moderator_pin)
            self._rooms[row.name] = Room(**asdict(row), stored=True)

    async def close(self) -> None:
        await self._tasks.close()
        for bridge in self._bridges.values():
            await self._ari.destroy_bridge(bridge)

    # ------------------------------------------------------------------ rooms
    def rooms(self) -> list[Room]:
        return sorted(self._rooms.values(), key=lambda r: r.name)

    def room(self, name: str) -> Room | None:
        return self._rooms.get(name)

    def room_for_number(self, number: str) -> Room | None:
        return next((r for r in self._rooms.values() if r.answers_to(number)), None)

    def bridge_of(self, name: str) -> str | None:
        """The room's bridge, while anyone is in it."""
        return self._bridges.get(name)

    def node_of(self, name: str) -> str | None:
        """The node of the room's bridge, where its members are rung (a bridge joins one
        node's channels); None while the room is empty (any node will do)."""
        bridge = self._bridges.get(name)
        return self._ari.node_of_bridge(bridge) if bridge else None

    def members(self, name: str) -> list[Member]:
        return list(self._members.get(name, {}).values())

    async def create(self, room: Room, created_by: int | None) -> Room:
        """Store a room made through the API (its PINs hashed first). Its DID must be one of
        the allowed DIDs (403)."""
        if room.name in self._rooms:
            raise RoomError(f"a room named {room.name!r} exists already")
        if room.did and self._allowed_dids is not None and room.did not in self._allowed_dids:
            raise RoomError(f"{room.did} is not a DID rooms may have (ask an admin)", 403)
        for number in (room.extension, room.did):
            if number and self.room_for_number(number):
                raise RoomError(f"{number} is the number of another room")
        pins = {k: getattr(room, k) for k in ("pin", "moderator_pin") if getattr(room, k)}
        hashed = await asyncio.to_thread(_hash_pins, pins)
        fields = {**room.__dict__, **hashed, "stored": True}
        await self._storage.rooms.save_room(
            {k: v for k, v in fields.items() if k != "stored"}, created_by
        )
        if room.name in self._rooms:  # made meanwhile, while the PINs were hashed
            await self._storage.rooms.delete_room(room.name)
            raise RoomError(f"a room named {room.name!r} exists already")
        self._rooms[room.name] = stored = Room(**fields)
        log.info("room.created", room=room.name)
        return stored

    async def delete(self, name: str) -> None:
        room = self._require(name)
        if not room.stored:
            raise RoomError("rooms of the config file are changed there", 409)
        async with self._locks.setdefault(name, asyncio.Lock()):
            del self._rooms[name]  # first: a call answered from now on is not let in
            # Calls still ringing out to join go too: answered, they would enter a room no more.
            members = self._members.pop(name, {})
            for channel_id in [*members, *self._ringing_channels.get(name, ())]:
                await self._ari.hangup(channel_id)
            bridge = self._bridges.pop(name, None)
            if bridge is not None:  # gone with the room, not when the last hang-up is heard
                await self._ari.destroy_bridge(bridge)
        try:
            await self._storage.rooms.delete_room(name)
            await self._storage.invitations.delete_room(name)  # its links die with it
        except BaseException:
            self._rooms.setdefault(name, room)  # still on record: it takes calls again
            raise

    def _require(self, name: str) -> Room:
        room = self._rooms.get(name)
        if room is None:
            raise RoomError(f"no room named {name!r}", 404)
        return room

    # ------------------------------------------------------------------ joining
    def accept(self, channel_id: str, room: Room, caller: str | None) -> None:
        """A caller dialled the room's number: his call is in our app; take it from here."""
        self._tasks.spawn(self._dial_in(channel_id, room, caller), name=f"room-{channel_id}")

    async def _dial_in(self, channel_id: str, room: Room, caller: str | None) -> None:
        structlog.contextvars.bind_contextvars(channel_id=channel_id, room=room.name)
        events = self._ari.subscribe(channel_id)  # handed on to the member once he is in
        try:
            await self._ari.answer(channel_id)
            pin = None
            if room.asks_for_pin:
                pin = await self._ask_pin(channel_id, room, events)
            if pin is not None or not room.asks_for_pin:
                await self._enter(channel_id, room, pin, caller, "dial-in", events)
                return
        except (AriError, TimeoutError) as error:
            log.info("room.caller_lost", error=str(error) or "timeout")
        events.close()
        await self._ari.hangup(channel_id)

    async def _ask_pin(self, channel_id: str, room: Room, events) -> str | None:
        """The PIN he keyed that lets him in ("" in a room whose members need none), or None
        after three wrong tries or a hang-up."""
        for _ in range(PIN_TRIES):
            await self._ari.play(channel_id, "sound:conf-getpin")
            keyed = await _read_keys(events, PIN_TIMEOUT)
            if keyed is None:
                return None  # hung up
            if (await _admit(room, keyed, 0)).refused is not Refusal.WRONG_PIN:
                return keyed
            log.info("room.wrong_pin")
            # Not waited for: Asterisk queues it before the next prompt, and keys typed
            # meanwhile stay in `events` for the next try.
            await self._ari.play(channel_id, "sound:conf-invalidpin")
        log.warning("room.pin_refused")
        return None

    async def dial(
        self, name: str, number: str, *, via: str = "dialled", ask: DialAsk | None = None
    ) -> Member:
        """Ring `number` (through the trunk) and put it in the room once it answers."""
        return await (await self.start_dial(name, number, via=via, ask=ask))

    async def start_dial(
        self,
        name: str,
        number: str,
        *,
        via: str = "dialled",
        ask: DialAsk | None = None,
        claim: Callable[[], Awaitable[bool]] | None = None,
    ) -> Coroutine[None, None, Member]:
        """Take a seat in the room for `number` and pass the outbound policy (RoomError,
        OutboundRefused); returns the ringing, to be awaited (it gives the seat back however
        it ends). `ask`: who asks (else a room dial asked by nobody known). `claim`: taken
        once the seat is (an invitation's use): False refuses (410), and only requests that
        got a seat ever take one."""
        room = self._require(name)
        ask = ask or DialAsk(Purpose.ROOM_DIAL, number, room=name)
        async with self._locks.setdefault(name, asyncio.Lock()):
            load = RoomLoad(
                len(self._members.get(name, {})), self._ringing.get(name, 0), room.max_members
            )
            if not room_has_slot(load):
                log.info("room.dial_refused_full", room=name, ringing=load.ringing)
                if self._outbound is not None:
                    await self._outbound.refused(ask, "room_full", f"room {name!r} is full", 409)
                raise RoomError(f"room {name!r} is full")
            self._ringing[name] = load.ringing + 1
        try:
            if claim is not None and not await claim():
                raise RoomError("this invitation has been used up", 410)
            if self._outbound is not None:
                await self._outbound.check(ask)
        except BaseException:
            self._release_seat(name)
            raise
        return self._ring(room, number, via)

    def _release_seat(self, name: str) -> None:
        left = self._ringing.get(name, 0) - 1
        if left > 0:
            self._ringing[name] = left
        else:
            self._ringing.pop(name, None)

    async def _ring(self, room: Room, number: str, via: str) -> Member:
        name = room.name
        try:
            channel_id = f"room-{uuid.uuid4().hex[:16]}"
            events = self._ari.subscribe(channel_id)
            self._ringing_channels.setdefault(name, set()).add(channel_id)
            try:
                with on_node(self.node_of(name)):
                    await ring_into_app(
                        self._ari,
                        target_dial_string(number, self._trunk),
                        channel_id=channel_id,
                        events=events,
                        app_args=["room", name],
                        timeout=self._answer_timeout,
                        caller_id=self._caller_id,
                    )
            except (NotAnswered, AriError, TimeoutError) as error:
                events.close()
                await self._ari.hangup(channel_id)
                raise RoomError(f"{number} could not be reached: {error or 'no answer'}") from None
            try:
                member = await self._enter(
                    channel_id, room, None, number, via, events, invited=True
                )
            except AriError as error:
                events.close()
                await self._ari.hangup(channel_id)
                raise RoomError(f"{number} could not join: {error}") from None
        finally:
            self._release_seat(name)
            ringing = self._ringing_channels.get(name, set())
            ringing.discard(channel_id)
            if not ringing:
                self._ringing_channels.pop(name, None)
        if member is None:
            raise RoomError(f"room {name!r} is full")
        return member

    async def _enter(
        self,
        channel_id: str,
        room: Room,
        pin: str | None,
        caller: str | None,
        via: str,
        events,
        *,
        invited: bool = False,
    ) -> Member | None:
        async with self._locks.setdefault(room.name, asyncio.Lock()):
            members = self._members.setdefault(room.name, {})
            # Calls still ringing hold their seats; an invited caller's own seat is his.
            ringing = self._ringing.get(room.name, 0) - (1 if invited else 0)
            decision = await _admit(room, pin, len(members) + ringing, invited=invited)
            if room.name not in self._rooms:  # deleted while this call rang or gave its PIN
                events.close()
                await self._ari.hangup(channel_id)
                return None
            if not decision.admitted:
                log.info("room.refused", room=room.name, reason=decision.refused)
                with contextlib.suppress(AriError, TimeoutError):
                    await self._play_and_wait(channel_id, "sound:conf-locked", events)
                events.close()
                await self._ari.hangup(channel_id)
                return None
            bridge = self._bridges.get(room.name)
            if bridge is None:
                bridge = f"room-{room.name}-{uuid.uuid4().hex[:8]}"
                await self._ari.create_bridge(
                    bridge_type="mixing", bridge_id=bridge, name=f"room {room.name}"
                )
                self._bridges[room.name] = bridge
            if room.tones and members:
                await self._tone(bridge, JOIN_TONE)
            try:
                await self._links.join(bridge, channel_id)
            except AriError:
                if not members:  # the caller hung up as he came in: no empty bridge kept
                    del self._bridges[room.name]
                    await self._ari.destroy_bridge(bridge)
                raise
            member = Member(
                channel_id, room.name, datetime.now(UTC), decision.moderator, caller, via
            )
            members[channel_id] = member
        log.info("room.joined", room=room.name, via=via, moderator=member.moderator)
        self._tasks.spawn(self._stay(member, events))
        return member

    async def _stay(self, member: Member, events) -> None:
        with events:
            async for event in events:
                if isinstance(event, (ChannelDestroyed, StasisEnd)):
                    break
        await self._left(member)

    async def _left(self, member: Member) -> None:
        async with self._locks.setdefault(member.room, asyncio.Lock()):
            members = self._members.get(member.room, {})
            if members.pop(member.id, None) is None:
                return
            bridge = self._bridges.get(member.room)
            room = self._rooms.get(member.room)
            if bridge and not members:
                del self._bridges[member.room]
                await self._ari.destroy_bridge(bridge)
            elif bridge and room is not None and room.tones:
                await self._tone(bridge, LEAVE_TONE)
        log.info("room.left", room=member.room)

    async def _tone(self, bridge: str, sound: str) -> None:
        with contextlib.suppress(AriError):
            await self._ari.play_on_bridge(bridge, sound)

    async def _play_and_wait(self, channel_id: str, sound: str, events) -> None:
        playback = await self._ari.play(channel_id, sound)
        await events.wait_for(
            (PlaybackFinished, ChannelDestroyed),
            lambda e: not isinstance(e, PlaybackFinished) or e.playback.id == playback.id,
            timeout=15,
        )

    # ------------------------------------------------------------------ moderation
    def _member(self, name: str, member_id: str) -> Member:
        self._require(name)
        member = self._members.get(name, {}).get(member_id)
        if member is None:
            raise RoomError("no such member in this room", 404)
        return member

    async def mute(self, name: str, member_id: str, muted: bool = True) -> Member:
        """Silence what a member says (he still hears the room), or let him speak again."""
        member = self._member(name, member_id)
        if muted:
            await self._ari.mute(member.id, "in")
        else:
            await self._ari.unmute(member.id, "in")
        member.muted = muted
        log.info("room.muted" if muted else "room.unmuted", room=name)
        return member

    async def kick(self, name: str, member_id: str) -> Member:
        member = self._member(name, member_id)
        with self._ari.subscribe(member.id) as events:
            with contextlib.suppress(AriError, TimeoutError):
                await self._links.leave(self._bridges[name], member.id)
                await self._play_and_wait(member.id, "sound:conf-kicked", events)
        await self._ari.hangup(member.id)
        log.info("room.kicked", room=name)
        return member


def _hash_pins(pins: dict[str, str]) -> dict[str, str]:
    return {k: v if is_hashed(v) else hash_pin(v) for k, v in pins.items()}


async def _admit(room: Room, pin: str | None, members: int, *, invited: bool = False):
    """`admit`, off the event loop when it has to check a PIN against a hash (~50 ms)."""
    if room.pins_hashed and not invited and pin:
        return await asyncio.to_thread(admit, room, pin, members)
    return admit(room, pin, members, invited=invited)


async def _read_keys(events, timeout: float) -> str | None:
    """Keys up to `#` (or until `timeout` s pass without one); None if the caller hung up."""
    keys = ""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return keys
        try:
            event = await events.get(timeout=remaining)
        except TimeoutError:
            return keys
        if isinstance(event, (ChannelDestroyed, StasisEnd)):
            return None
        if isinstance(event, ChannelDtmfReceived):
            if event.digit == "#":
                return keys
            keys += event.digit
            deadline = loop.time() + timeout
