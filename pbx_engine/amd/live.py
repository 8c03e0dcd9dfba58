"""The engine detector on a live call: Asterisk sends the answered party's audio to the engine.

While the call waits in Stasis, the engine sets up, for this call only:

    debtor's channel ──snoop (spy in)──▶ snoop channel ─┐
                                                        ├─ mixing bridge
    engine's UDP socket ◀──RTP (μ-law)── external media ─┘

The snoop channel carries what the debtor says; the external media channel (UnicastRTP, from
`POST /channels/externalMedia`, Asterisk 16.6 and later) sends the bridge's audio to a UDP
socket the engine opened for the call. `RtpIntake` reads the packets, puts them in order,
decodes them and feeds an `AmdListener` until it decides. Whatever happens (a verdict, the
debtor hanging up first, a cancellation), the snoop, the external media channel, the bridge and
the socket are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass

import structlog

from pbx_engine.amd.g711 import alaw_decode, ulaw_decode
from pbx_engine.amd.listener import AmdListener, AmdStatus, Framer, ListenerSettings
from pbx_engine.amd.rtp import PAYLOAD_PCMA, PAYLOAD_PCMU, MalformedRtp, RtpSequencer, parse_rtp
from pbx_engine.ari import AriClient, AriError, AriUnavailable
from pbx_engine.ari.events import StasisStart

log = structlog.get_logger(__name__)

_SETUP_TIMEOUT = 5.0
_DECODERS = {PAYLOAD_PCMU: ulaw_decode, PAYLOAD_PCMA: alaw_decode}


@dataclass(frozen=True)
class EngineVerdict:
    """What the listener decided, in app_amd's words, and how much audio it had heard."""

    status: str
    cause: str
    heard_ms: int
    packets: int


class RtpIntake(asyncio.DatagramProtocol):
    """One call's RTP: malformed or foreign packets are counted and logged, never fatal."""

    def __init__(self, settings: ListenerSettings, logger) -> None:
        self.listener = AmdListener(settings)
        self.verdict: asyncio.Future[EngineVerdict] = asyncio.get_running_loop().create_future()
        self._log = logger
        self._sequencer = RtpSequencer()
        self._framer = Framer()
        self.packets = 0
        self.rejected = 0

    def datagram_received(self, data: bytes, addr) -> None:
        if self.verdict.done():
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
                decided = self.listener.feed(frame)
                if decided is not None:
                    self._settle(decided.status.value, decided.cause)
                    return

    def _reject(self, event: str, **details) -> None:
        self.rejected += 1
        if self.rejected <= 3 or self.rejected % 100 == 0:  # enough to see, not a flood
            self._log.warning(event, rejected=self.rejected, **details)

    def give_up(self) -> None:
        """No verdict in time: NOTSURE, which the engine treats as a person."""
        heard = self.listener.heard_ms
        self._settle(AmdStatus.NOTSURE.value, f"TOOLONG-{heard}" if heard else "NOAUDIODATA")

    def _settle(self, status: str, cause: str) -> None:
        if not self.verdict.done():
            self.verdict.set_result(
                EngineVerdict(status, cause, self.listener.heard_ms, self.packets)
            )

    def error_received(self, exc: Exception) -> None:
        self._log.warning("amd.rtp_socket_error", error=str(exc))


class EngineDetector:
    """Listens to answered calls through ARI snoop and external media."""

    def __init__(
        self,
        ari: AriClient,
        *,
        media_host: str = "127.0.0.1",
        timeout: float = 8.0,
        settings: ListenerSettings | None = None,
    ) -> None:
        self._ari = ari
        self._media_host = media_host
        self._timeout = timeout
        self.settings = settings or ListenerSettings()

    async def listen(self, channel_id: str) -> EngineVerdict:
        """The verdict on `channel_id`, which must be answered and in our Stasis app.

        Raises `ChannelGone` when the channel hangs up before the listener is in place, and
        `AriError`/`AriUnavailable` when Asterisk refuses to set it up.
        """
        tag = uuid.uuid4().hex[:16]
        snoop_id, media_id, bridge_id = f"amd-snoop-{tag}", f"amd-media-{tag}", f"amd-{tag}"
        logger = log.bind(amd_channel=channel_id, snoop_id=snoop_id, media_id=media_id)
        loop = asyncio.get_running_loop()
        transport, intake = await loop.create_datagram_endpoint(
            lambda: RtpIntake(self.settings, logger), local_addr=(self._media_host, 0)
        )
        port = transport.get_extra_info("sockname")[1]
        try:
            # Subscribed first: the helper channels' StasisStart must not reach the engine's
            # handler of unowned channels, which would hang them up.
            with self._ari.subscribe(snoop_id, media_id) as events:
                await self._ari.snoop(
                    channel_id,
                    app=self._ari.app,
                    spy="in",
                    snoop_id=snoop_id,
                    app_args=["amd-snoop", channel_id],
                )
                await events.wait_for(
                    StasisStart, lambda e: e.channel.id == snoop_id, timeout=_SETUP_TIMEOUT
                )
                await self._ari.external_media(
                    app=self._ari.app,
                    external_host=f"{self._media_host}:{port}",
                    audio_format="ulaw",
                    channel_id=media_id,
                )
                await self._ari.create_bridge(bridge_type="mixing", bridge_id=bridge_id, name=tag)
                await self._ari.add_channel(bridge_id, [snoop_id, media_id])
                logger.info("amd.listening", port=port)
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
                )
                return verdict
        finally:
            transport.close()
            await asyncio.shield(self._remove(logger, bridge_id, snoop_id, media_id))

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
