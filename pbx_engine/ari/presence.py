"""An engine's heartbeat on its PBX, read by the other engines that share the PBX.

Every engine bumps a global variable of its own (`ENGINE_BEAT_<name>`) on the PBX every second,
`APP@LIFE-COUNT`: its ARI app (whose channels are its calls and its agents' legs), a mark of
this run of it, and the count.
An engine that took a campaign over from another reads that engine's beat twice, a few beats
apart, before it takes over its calls: a beat that moves means the other engine still runs its
calls (it is cut off from the database only, and writes them down once it is back); a beat
that stands still means nobody is left to follow them; no beat at all means the engine never
ran on this PBX, and its calls are on another, out of this engine's sight. The PBX is the
judge because the calls are there: an engine that cannot reach it can do nothing for them
either.
"""

from __future__ import annotations

import asyncio
import enum
import re
import uuid

import structlog

from pbx_engine.ari.client import AriClient
from pbx_engine.ari.errors import AriError, AriUnavailable

log = structlog.get_logger(__name__)

BEAT_EVERY = 1.0  # seconds between beats
WATCH_FOR = 3.0  # how long another engine's beat is watched: three beats


def beat_variable(engine: str) -> str:
    """The global an engine beats in: Asterisk variable names keep to letters, digits and _."""
    return "ENGINE_BEAT_" + re.sub(r"[^A-Za-z0-9_]", "_", engine)


class Beat(enum.Enum):
    MOVING = "moving"  # the engine runs here, and runs its calls
    STILL = "still"  # it ran here and stopped: its calls here have nobody
    NEVER = "never"  # it never ran on this PBX: its calls, if any, are on another


class EnginePresence:
    def __init__(
        self, ari: AriClient, engine: str, *, every: float = BEAT_EVERY, watch: float = WATCH_FOR
    ) -> None:
        self._ari = ari
        self._variable = beat_variable(engine)
        self._every = every
        self._watch = watch
        # A restarted engine's beat differs from the one before even at the same count.
        self._life = uuid.uuid4().hex[:8]

    async def run(self) -> None:
        """Beat until cancelled; a PBX out of reach misses beats, nothing else."""
        beat = 0
        while True:
            beat += 1
            try:
                await self._ari.set_global(self._variable, f"{self._ari.app}@{self._life}-{beat}")
            except (AriError, AriUnavailable, TimeoutError) as error:
                log.debug("presence.beat_missed", error=str(error) or type(error).__name__)
            await asyncio.sleep(self._every)

    async def app_of(self, engine: str) -> str | None:
        """The ARI app `engine` runs under, as its beat says (None: no beat here)."""
        value = await self._ari.get_global(beat_variable(engine))
        return value.split("@", 1)[0] if value and "@" in value else None

    async def watch(self, engine: str) -> Beat:
        """`engine`'s beat on this PBX, watched for a few beats."""
        name = beat_variable(engine)
        first = await self._ari.get_global(name)
        await asyncio.sleep(self._watch)
        last = await self._ari.get_global(name)
        if last != first:
            return Beat.MOVING
        return Beat.STILL if last else Beat.NEVER
