"""Engines sharing a PBX and a database watch each other: one whose beat on the PBX stands still
is taken over (its agents and its calls) by the first engine to find it so, whether or not it
held a campaign's lease. An engine that finds its own run taken over while it still runs (its
PBX did not hear it for a while, the others did) is no longer the owner of anything it holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from pbx_engine.ari.errors import AriError, AriUnavailable
from pbx_engine.ari.presence import BEAT_EVERY, STILL_FOR, EnginePresence, StillBeats
from pbx_engine.dialer.service import Dialer
from pbx_engine.recordkeeper.outbox import is_unreachable
from pbx_engine.storage.engine_runs import EngineRun, EngineRuns

log = structlog.get_logger(__name__)


class EngineWatch:
    def __init__(
        self,
        runs: EngineRuns,
        presence: EnginePresence,
        dialer: Dialer,
        own: EngineRun,
        *,
        taken_over: Callable[[str], None],
        every: float = BEAT_EVERY,
        still_for: float = STILL_FOR,
    ) -> None:
        self._runs = runs
        self._presence = presence
        self._dialer = dialer
        self._own = own
        self._taken_over = taken_over  # told the engine that took this one over
        self._every = every
        self._beats = StillBeats(still_for)

    async def run(self) -> None:
        """Look every `every` seconds until cancelled; a database or PBX out of reach makes a
        look fail, nothing else (a beat read later counts from then)."""
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.look()
            except Exception as error:
                if out_of_reach(error):
                    log.debug("engine_watch.look_failed", error=str(error) or type(error).__name__)
                else:  # a bug: said, and the watch goes on (it is how the floor heals)
                    log.exception("engine_watch.look_failed")

    async def look(self) -> None:
        """One look: this engine's own run first, then every other engine's beat."""
        seen = await self._runs.seen_by(self._own)
        taken_by = seen.taken_by
        if taken_by is not None:
            log.error(
                "engine.taken_over",
                by=taken_by,
                why="this engine's beat stood still on the PBX: its calls and agents are "
                f"{taken_by}'s now",
            )
            self._taken_over(taken_by)
            return
        for other in seen.others:
            beat = await self._presence.beat_of(other.engine)
            if beat is None or beat.life != other.life:
                # No beat here (it runs on another PBX), or an earlier run's: not ours to judge.
                self._beats.forget(other.engine)
                continue
            if self._beats.read(other.engine, beat, time.monotonic()):
                self._beats.forget(other.engine)
                log.warning("engine_watch.beat_still", engine=other.engine)
                await self._take_over(other)

    async def _take_over(self, other: EngineRun) -> None:
        try:
            await self._dialer.take_over(other.engine, other.life)
        except Exception as error:
            # Taken on record, half done: what is left (a call not followed, an agent not
            # adopted) is settled as a restart settles it (its end, his phone's hang-up).
            if out_of_reach(error):
                log.warning("engine_watch.take_over_failed", engine=other.engine, error=str(error))
            else:
                log.exception("engine_watch.take_over_failed", engine=other.engine)


def out_of_reach(error: Exception) -> bool:
    """The PBX or the database out of reach (not a bug)."""
    return isinstance(error, AriError | AriUnavailable) or is_unreachable(error)
