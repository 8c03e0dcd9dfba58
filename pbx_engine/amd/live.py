"""The engine detector on a live call: Asterisk sends the answered party's audio to the engine.

While the call waits in Stasis, the engine sets up, for this call only:

    debtor's channel ──snoop (spy in)──▶ snoop channel ─┐
                                                        ├─ mixing bridge
    engine's UDP socket ◀──RTP (μ-law)── external media ─┘

The snoop channel carries what the debtor says; the external media channel (UnicastRTP, from
`POST /channels/externalMedia`, Asterisk 16.6 and later) sends the bridge's audio to a UDP
socket the engine opened for the call. The socket accepts packets from the PBX's address alone
(`[dialer] media_peer`, else the ARI url's host): anyone else who finds the port is dropped and
counted, so he can neither sway the verdict nor flood the listener. `RtpIntake` reads the
packets, puts them in order,
decodes them and feeds an `AmdListener` until it decides. Whatever happens (a verdict, the
debtor hanging up first, a cancellation), the snoop, the external media channel, the bridge and
the socket are removed.

When a campaign leaves messages on machines, a MACHINE verdict does not end the listening: the
same set-up goes on feeding a `BeepListener` until it says the greeting is over (its beep has
ended), and the helpers stay until the message drop (or the call's end) stops watching.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from pbx_engine.amd.beep import BeepListener, BeepSettings, GoReason, GreetingOver
from pbx_engine.amd.g711 import alaw_decode, ulaw_decode
from pbx_engine.amd.learned import LearnedListener, shipped_model
from pbx_engine.amd.listener import AmdListener, AmdStatus, Framer, ListenerSettings
from pbx_engine.amd.rtp import PAYLOAD_PCMA, PAYLOAD_PCMU, MalformedRtp, RtpSequencer, parse_rtp
from pbx_engine.ari import AriClient, AriError, AriUnavailable, Subscription
from pbx_engine.ari.events import Channel, StasisStart

log = structlog.get_logger(__name__)

_SETUP_TIMEOUT = 5.0
HELPER_PREFIX = (
    "amd-"  # the snoop (amd-snoop-TAG), external media (amd-media-TAG), bridge (amd-TAG)
)
_DECODERS = {PAYLOAD_PCMU: ulaw_decode, PAYLOAD_PCMA: alaw_decode}


@dataclass(frozen=True)
class EngineVerdict:
    """What the listener decided, in app_amd's words, and how much audio it had heard."""

    status: str
    cause: str
    heard_ms: int
    packets: int
    onset_ms: int | None = None  # when speech began, in the audio heard (None: none heard)


def _helper_ids(tag: str) -> tuple[str, str, str]:
    """The snoop's, the external media channel's and the bridge's ids for one set-up."""
    return f"{HELPER_PREFIX}snoop-{tag}", f"{HELPER_PREFIX}media-{tag}", f"{HELPER_PREFIX}{tag}"


class RtpIntake(asyncio.DatagramProtocol):
    """One call's RTP: malformed or foreign packets are counted and logged, never fatal."""

    def __init__(
        self,
        settings: ListenerSettings,
        logger,
        beep_settings: BeepSettings | None = None,
        *,
        peers: frozenset[str] | None = None,
        listener: AmdListener | LearnedListener | None = None,
    ) -> None:
        # The addresses packets are taken from (None: any, for tests of the decoding alone).
        self._peers = peers
        self.foreign = 0
        self.listener = listener if listener is not None else AmdListener(settings)
        self.verdict: asyncio.Future[EngineVerdict] = asyncio.get_running_loop().create_future()
        # With beep settings, a MACHINE verdict hands the frames that follow, from the very
        # next one, to a beep listener.
        self._beep_settings = beep_settings
        self.beep: BeepListener | None = None
        self.greeting_over: asyncio.Future[GreetingOver] = (
            asyncio.get_running_loop().create_future()
        )
        self._log = logger
        self._sequencer = RtpSequencer()
        self._framer = Framer()
        self.packets = 0
        self.rejected = 0

    def datagram_received(self, data: bytes, addr) -> None:
        if self._peers is not None and addr[0] not in self._peers:
            self.foreign += 1
            if self.foreign <= 3 or self.foreign % 100 == 0:  # enough to see, not a flood
                self._log.warning("amd.rtp_foreign_source", foreign=self.foreign, source=addr[0])
            return
        if self.greeting_over.done() or (self.verdict.done() and self.beep is None):
            return
        try:
            packet = parse_rtp(data)
        except MalformedRtp as error:
            self._reject("amd.rtp_malformed", error=str(error), peer=addr)
            return
        decode = _DECODERS.get(packet.payload_type)
        if decode is None:
            # Comfort noise, DTMF events and the like say nothing about speech.
            self._reject("amd.rtp_payload_ignored", payload_type=packet.payload_type)
            return
        self.packets += 1
        for payload in self._sequencer.accept(packet):
            for frame in self._framer.push(decode(payload)):
                if self.beep is not None:
                    over = self.beep.feed(frame)
                    if over is not None:
                        self.greeting_over.set_result(over)
                        return
                    continue
                decided = self.listener.feed(frame)
                if decided is not None:
                    self._settle(decided.status.value, decided.cause, decided.onset_ms)
                    if decided.status is not AmdStatus.MACHINE or self._beep_settings is None:
                        return
                    self.beep = BeepListener.after(self.listener.recent_levels, self._beep_settings)

    def _reject(self, event: str, **details) -> None:
        self.rejected += 1
        if self.rejected <= 3 or self.rejected % 100 == 0:  # enough to see, not a flood
            self._log.warning(event, rejected=self.rejected, **details)

    def give_up(self) -> None:
        """No verdict in time: NOTSURE, which the engine treats as a person."""
        heard = self.listener.heard_ms
        self._settle(AmdStatus.NOTSURE.value, f"TOOLONG-{heard}" if heard else "NOAUDIODATA")

    def _settle(self, status: str, cause: str, onset_ms: int | None = None) -> None:
        if not self.verdict.done():
            self.verdict.set_result(
                EngineVerdict(status, cause, self.listener.heard_ms, self.packets, onset_ms)
            )

    def error_received(self, exc: Exception) -> None:
        self._log.warning("amd.rtp_socket_error", error=str(exc))

    def give_up_on_greeting(self) -> GreetingOver:
        """No go in time (the audio stopped coming): go anyway, as at the cap."""
        if not self.greeting_over.done():
            heard = self.beep.heard_ms if self.beep is not None else 0
            self.greeting_over.set_result(GreetingOver(GoReason.CAP, heard))
        return self.greeting_over.result()


@dataclass
class _GreetingWatch:
    """A listening set-up kept after a MACHINE verdict, until the message drop is done."""

    intake: RtpIntake
    transport: asyncio.DatagramTransport
    logger: Any  # structlog's, with the call's ids bound
    bridge_id: str
    channel_ids: tuple[str, str]


_SILENT_PACKET_PAYLOAD = b"\xff" * 160  # 20 ms of μ-law silence


async def _nudge(transport: asyncio.DatagramTransport, media: Channel) -> None:
    """Send silence to the external media channel until it is in the bridge.

    Asterisk's Stasis loop for a channel runs the queued commands (here: join the bridge) when
    the channel has a frame to read, or after 200 ms without one. The external media channel
    reads only what the engine sends it: on Asterisk 16.28 adding it to the bridge took 200 ms
    every time (the snoop, which has audio, 10 to 20 ms), and with these packets the whole
    set-up takes about 25 ms.
    """
    variables = media.channelvars or {}
    address = variables.get("UNICASTRTP_LOCAL_ADDRESS")
    port = variables.get("UNICASTRTP_LOCAL_PORT")
    if not address or not port:
        return  # an Asterisk that does not say where it listens: wait the 200 ms
    ssrc = uuid.uuid4().int & 0xFFFFFFFF
    for sequence in range(50):  # a second at most
        header = struct.pack("!BBHII", 0x80, PAYLOAD_PCMU, sequence, sequence * 160, ssrc)
        transport.sendto(header + _SILENT_PACKET_PAYLOAD, (address, int(port)))
        await asyncio.sleep(0.02)


def leftover_tags(channels: Iterable[Channel], now: datetime, max_age: float) -> set[str]:
    """The set-ups whose helper channels outlived any listener (created more than `max_age`
    seconds ago): what an engine that died while listening leaves behind. UnicastRTP channels
    never hang up by themselves. Age, not ownership, decides, so a second engine on the same
    Asterisk never loses a listener it is using."""
    tags = set()
    for channel in channels:
        kind, _, tag = channel.id.removeprefix(HELPER_PREFIX).partition("-")
        if not channel.id.startswith(HELPER_PREFIX) or kind not in ("snoop", "media") or not tag:
            continue
        created = channel.creationtime
        if created is not None and (now - created).total_seconds() > max_age:
            tags.add(tag)
    return tags


def setups_on(channels: Iterable[Channel], channel_id: str) -> set[str]:
    """The set-ups listening to `channel_id`, found by their snoop channel, which Asterisk
    names after the call it spies on ("Snoop/<the call's id>-<n>")."""
    snoop = f"{HELPER_PREFIX}snoop-"
    return {
        channel.id.removeprefix(snoop)
        for channel in channels
        if channel.id.startswith(snoop) and channel.name.startswith(f"Snoop/{channel_id}-")
    }


async def media_peer_addresses(host: str) -> frozenset[str]:
    """The addresses `host` stands for (itself when it is one), as a datagram's source reads."""
    host = host.strip("[]")
    try:
        return frozenset({str(ipaddress.ip_address(host))})
    except ValueError:
        pass
    found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    return frozenset(str(ipaddress.ip_address(info[4][0])) for info in found)


class EngineDetector:
    """Listens to answered calls through ARI snoop and external media."""

    def __init__(
        self,
        ari: AriClient,
        *,
        media_host: str = "127.0.0.1",
        media_peer: str | None = None,
        timeout: float = 8.0,
        settings: ListenerSettings | None = None,
        beep_settings: BeepSettings | None = None,
    ) -> None:
        self._ari = ari
        self._media_host = media_host
        self._media_peer = media_peer  # None: the ARI url's host
        self._peers: frozenset[str] | None = None
        self._timeout = timeout
        self.settings = settings or ListenerSettings()
        self.beep_settings = beep_settings or BeepSettings()
        self._watches: dict[str, _GreetingWatch] = {}  # by the debtor's channel

    async def listen(
        self, channel_id: str, *, watch_greeting: bool = False, learned: bool = False
    ) -> EngineVerdict:
        """The verdict on `channel_id`, which must be answered and in our Stasis app; with
        `learned`, decided by the learned model instead of the energy listener.

        With `watch_greeting`, a MACHINE verdict leaves the listening in place, now for the
        greeting's end: `greeting_over(channel_id)` waits for it, and `stop_watching` (which
        the owner of the call must call however it ends) removes the helpers.

        Raises `ChannelGone` when the channel hangs up before the listener is in place, and
        `AriError`/`AriUnavailable` when Asterisk refuses to set it up.
        """
        tag = uuid.uuid4().hex[:16]
        snoop_id, media_id, bridge_id = _helper_ids(tag)
        # The packets are read in the event loop's callbacks, outside this task's context:
        # the call's ids (bound by the dialer) are carried over to their log lines by hand.
        logger = log.bind(
            **structlog.contextvars.get_contextvars(),
            amd_channel=channel_id,
            snoop_id=snoop_id,
            media_id=media_id,
        )
        loop = asyncio.get_running_loop()
        began = loop.time()
        beep_settings = self.beep_settings if watch_greeting else None
        peers = await self._peer_addresses()
        listener = LearnedListener(shipped_model()) if learned else AmdListener(self.settings)
        transport, intake = await loop.create_datagram_endpoint(
            lambda: RtpIntake(self.settings, logger, beep_settings, peers=peers, listener=listener),
            local_addr=(self._media_host, 0),
        )
        port = transport.get_extra_info("sockname")[1]
        kept = False
        try:
            # Subscribed first: the helper channels' StasisStart must not reach the engine's
            # handler of unowned channels, which would hang them up.
            with self._ari.subscribe(snoop_id, media_id) as events:
                media = await self._create_helpers(channel_id, tag, port)
                await self._bridge_helpers(events, transport, media, tag)
                logger.info(
                    "amd.listening", port=port, setup_ms=round(1000 * (loop.time() - began))
                )
                verdict = await self._await_verdict(intake, logger)
                if watch_greeting and verdict.status == AmdStatus.MACHINE.value:
                    # No await from here to the return: the watch is either on record for
                    # `stop_watching` or removed below, never both or neither.
                    self._watches[channel_id] = _GreetingWatch(
                        intake, transport, logger, bridge_id, (snoop_id, media_id)
                    )
                    kept = True
                    logger.info("amd.watching_greeting")
                return verdict
        finally:
            if not kept:
                transport.close()
                await asyncio.shield(self._remove(logger, bridge_id, snoop_id, media_id))

    async def _create_helpers(self, channel_id: str, tag: str, port: int) -> Channel:
        """The snoop on `channel_id`, the external media channel sending to `port` and the
        mixing bridge; returns the external media channel."""
        snoop_id, media_id, bridge_id = _helper_ids(tag)
        # The three requests at once: every tenth of a second spent here is a tenth of a
        # second more before a person hears an agent. All of them are let finish before an
        # error is raised, so the clean-up knows what exists.
        made = await asyncio.gather(
            self._ari.snoop(
                channel_id,
                app=self._ari.app,
                spy="in",
                snoop_id=snoop_id,
                app_args=["amd-snoop", channel_id],
            ),
            self._ari.external_media(
                app=self._ari.app,
                external_host=f"{self._media_host}:{port}",
                audio_format="ulaw",
                channel_id=media_id,
            ),
            self._ari.create_bridge(bridge_type="mixing", bridge_id=bridge_id, name=tag),
            return_exceptions=True,
        )
        for outcome in made:
            if isinstance(outcome, BaseException):
                raise outcome
        return made[1]

    async def _bridge_helpers(
        self,
        events: Subscription,
        transport: asyncio.DatagramTransport,
        media: Channel,
        tag: str,
    ) -> None:
        """Put the snoop and the external media channel into the bridge once both are in
        Stasis, nudging the external media channel meanwhile."""
        snoop_id, media_id, bridge_id = _helper_ids(tag)
        nudging = asyncio.create_task(_nudge(transport, media), name=f"nudge-{tag}")
        try:
            # A channel can join a bridge only once it is in Stasis (422 before).
            async with asyncio.timeout(_SETUP_TIMEOUT):
                waiting = {snoop_id, media_id}
                while waiting:
                    started = await events.wait_for(StasisStart, timeout=_SETUP_TIMEOUT)
                    waiting.discard(started.channel.id)
            await self._ari.add_channel(bridge_id, [snoop_id, media_id])
        finally:
            nudging.cancel()
            await asyncio.gather(nudging, return_exceptions=True)

    async def _await_verdict(self, intake: RtpIntake, logger) -> EngineVerdict:
        """The listener's verdict, or what it makes of the audio so far once time is up."""
        try:
            async with asyncio.timeout(self._timeout):
                verdict = await asyncio.shield(intake.verdict)
        except TimeoutError:
            intake.give_up()
            verdict = intake.verdict.result()
        logger.info(
            "amd.engine_verdict",
            status=verdict.status,
            cause=verdict.cause,
            heard_ms=verdict.heard_ms,
            packets=verdict.packets,
            rejected=intake.rejected,
            foreign=intake.foreign,
        )
        return verdict

    async def _peer_addresses(self) -> frozenset[str]:
        """The PBX's addresses, looked up once: only they may send call audio."""
        if self._peers is None:
            host = self._media_peer or self._ari.host
            try:
                self._peers = await media_peer_addresses(host)
            except OSError as error:
                # No audio is taken then (a NOTSURE verdict: treated as a person); the next
                # call looks the name up again.
                log.error("amd.media_peer_unknown", host=host, error=str(error))
                return frozenset()
            log.info("amd.media_peer", host=host, addresses=sorted(self._peers))
        return self._peers

    def is_watching(self, channel_id: str) -> bool:
        return channel_id in self._watches

    async def greeting_over(self, channel_id: str) -> GreetingOver | None:
        """When the greeting on `channel_id` is over (its beep ended, silence, or the cap);
        None when nothing watches it (no MACHINE verdict from a listening that was asked to)."""
        watch = self._watches.get(channel_id)
        if watch is None:
            return None
        # The listener's cap counts frames; should the audio stop coming, the clock decides.
        wall_cap = self.beep_settings.max_wait_ms / 1000 + _SETUP_TIMEOUT
        try:
            async with asyncio.timeout(wall_cap):
                over = await asyncio.shield(watch.intake.greeting_over)
        except TimeoutError:
            over = watch.intake.give_up_on_greeting()
        watch.logger.info(
            "amd.greeting_over",
            reason=over.reason.value,
            heard_ms=over.heard_ms,
            beep_ms=over.beep_ms,
            beep_hz=over.beep_hz,
        )
        return over

    async def stop_watching(self, channel_id: str) -> None:
        """Remove the listening kept for `channel_id`, if any (safe to call more than once)."""
        watch = self._watches.pop(channel_id, None)
        if watch is None:
            return
        watch.transport.close()
        await asyncio.shield(self._remove(watch.logger, watch.bridge_id, *watch.channel_ids))

    async def remove_leftovers(self, channels: Iterable[Channel], now: datetime) -> int:
        """Hang up the helper channels and bridges that no listener can still be using (after
        a restart or a reconnect); returns how many set-ups were removed."""
        max_age = self.leftover_age
        watched = {w.bridge_id.removeprefix(HELPER_PREFIX) for w in self._watches.values()}
        tags = leftover_tags(channels, now, max_age=max_age) - watched
        for tag in tags:
            snoop_id, media_id, bridge_id = _helper_ids(tag)
            logger = log.bind(snoop_id=snoop_id, media_id=media_id)
            logger.warning("amd.leftover_removed", bridge_id=bridge_id)
            await self._remove(logger, bridge_id, snoop_id, media_id)
        return len(tags)

    @property
    def leftover_age(self) -> float:
        """Seconds after which a helper channel no listener can still be using (a set-up kept
        for a message drop lives on past the verdict, up to the greeting cap)."""
        return self._timeout + self.beep_settings.max_wait_ms / 1000 + 2 * _SETUP_TIMEOUT

    async def remove_setups_on(self, channel_id: str) -> int:
        """Hang up the helpers listening to `channel_id` for a listener that is gone: a call
        adopted after a restart, whose AMD died with the engine that set it up. Returns how
        many set-ups were removed."""
        if channel_id in self._watches:
            return 0  # ours, alive
        tags = setups_on(await self._ari.list_channels(), channel_id)
        for tag in tags:
            snoop_id, media_id, bridge_id = _helper_ids(tag)
            logger = log.bind(snoop_id=snoop_id, media_id=media_id)
            logger.warning("amd.orphaned_listener_removed", bridge_id=bridge_id)
            await self._remove(logger, bridge_id, snoop_id, media_id)
        return len(tags)

    async def _remove(self, logger, bridge_id: str, *channel_ids: str) -> None:
        # Each step on its own: the bridge must go even if a channel is already gone, and a
        # UnicastRTP channel left behind would stay up forever.
        for channel_id in channel_ids:
            with contextlib.suppress(AriError, AriUnavailable):
                await self._ari.hangup(channel_id)
        try:
            await self._ari.destroy_bridge(bridge_id)
        except (AriError, AriUnavailable) as error:
            logger.warning("amd.bridge_not_removed", bridge_id=bridge_id, error=str(error))
