"""Inbound calls entering Stasis as `Stasis(app,inbound,CALLER,DID,CASE_ID)`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog

from pbx_engine.ari import AriClient, ChannelGone
from pbx_engine.ari.events import ChannelDestroyed, PlaybackFinished, StasisEnd, StasisStart
from pbx_engine.dialer.outcomes import Outcome
from pbx_engine.storage import Storage
from pbx_engine.tasks import OwnedTasks

log = structlog.get_logger(__name__)

GREETING = "sound:vm-goodbye"


class InboundService:
    def __init__(self, ari: AriClient, storage: Storage) -> None:
        self._ari = ari
        self._storage = storage
        self._tasks = OwnedTasks()

    def accept(self, event: StasisStart) -> None:
        """Called from the event reader: must not block, so the call gets its own task."""
        self._tasks.spawn(self._guarded(event), name=event.channel.id)

    async def close(self) -> None:
        await self._tasks.close()

    async def _guarded(self, start: StasisStart) -> None:
        try:
            await self._handle(start)
        except Exception:
            log.exception("inbound.crashed", channel_id=start.channel.id)
            await self._ari.hangup(start.channel.id)

    async def _handle(self, start: StasisStart) -> None:
        channel_id = start.channel.id
        _, caller, did, case_id = (list(start.args) + ["", "", "", ""])[:4]
        structlog.contextvars.bind_contextvars(channel_id=channel_id, caller=caller, did=did)
        with self._ari.subscribe(channel_id) as events:
            await self._storage.create_attempt(
                channel_id=channel_id,
                direction="inbound",
                dialled=did or "unknown",
                caller_id=caller or None,
                case_id=int(case_id) if case_id.isdigit() else None,
            )
            log.info("inbound.identified", case_id=case_id or None)
            destroyed: ChannelDestroyed | None = None
            ended_by = "caller"
            try:
                await self._ari.answer(channel_id)
                await self._storage.mark_attempt_answered(channel_id, datetime.now(UTC))
                end = await self._ari.play_to_end(events, channel_id, GREETING, timeout=15)
                if isinstance(end, PlaybackFinished):
                    ended_by = "engine"
                    await self._ari.hangup(channel_id)
                    # A channel that entered Stasis from the dialplan is no longer ours after
                    # StasisEnd: its ChannelDestroyed goes to nobody, so either one ends it.
                    end = await events.wait_for((StasisEnd, ChannelDestroyed), timeout=10)
                destroyed = end if isinstance(end, ChannelDestroyed) else None
            except ChannelGone:
                pass
            except TimeoutError:
                await self._ari.hangup(channel_id)
            finally:
                await asyncio.shield(
                    self._storage.finish_attempt(
                        channel_id,
                        ended_at=datetime.now(UTC),
                        hangup_cause=destroyed.cause if destroyed else None,
                        hangup_cause_text=destroyed.cause_txt
                        if destroyed
                        else f"ended by {ended_by}",
                        outcome=Outcome.HUMAN.value,
                    )
                )
