"""An engine's heartbeat on its PBX, read by the other engines that share the PBX.

Every engine bumps a global variable of its own (`ENGINE_BEAT_<name>`) on the PBX every second,
`APP@LIFE-COUNT`: its ARI app (whose channels are its calls and its agents' legs), a mark of
this run of it, and the count.
Every engine reads the others' beats every second (`StillBeats`, pure; the watch is
`pbx_engine.dialer.takeover`): a beat that moves means its engine still runs its calls (cut
off from the database only, it writes them down once it is back); one that reads the same for
`STILL_FOR` seconds means nobody is left to follow them, and the engine is taken over, campaign
or none; no beat at all means the engine never ran on this PBX, and its calls are on another,
out of this engine's sight. The PBX is the judge because the calls are there: an engine that
cannot reach it can do nothing for them either.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass

import structlog

from pbx_engine.ari.client import AriClient
from pbx_engine.ari.errors import AriError, AriUnavailable

log = structlog.get_logger(__name__)

BEAT_EVERY = 1.0  # seconds between beats
# How long a beat reads the same before its engine is taken for gone without anything else to
# go on (no campaign's lease ran out): five beats missed at least, so a slow request or a short
# stall of an engine's loop is not a death.
STILL_FOR = 6.0


def beat_variable(engine: str) -> str:
    """The global an engine beats in: Asterisk variable names keep to letters, digits and _."""
    return "ENGINE_BEAT_" + re.sub(r"[^A-Za-z0-9_]", "_", engine)


@dataclass(frozen=True)
class BeatValue:
    app: str  # the ARI app the engine runs under
    life: str  # the mark of its run
    count: int


def read_beat(value: str | None) -> BeatValue | None:
    """A beat as it stands on the PBX (`APP@LIFE-COUNT`); None: none, or not a beat."""
    match = re.fullmatch(r"(.+)@([0-9a-f]+)-([0-9]+)", value or "")
    if match is None:
        return None
    return BeatValue(match[1], match[2], int(match[3]))


class StillBeats:
    """Which engines' beats have stood still for `still_for` seconds, from what is read of
    them now and then (pure: the reader says when)."""

    def __init__(self, still_for: float = STILL_FOR) -> None:
        self._still_for = still_for
        self._last: dict[str, tuple[BeatValue, float]] = {}  # engine: (its beat, first read at)

    def read(self, engine: str, beat: BeatValue, now: float) -> bool:
        """Whether `engine`'s beat, read as `beat` at `now`, has stood still long enough. A
        beat first read counts from then: its last move may be long past, or a moment ago."""
        last = self._last.get(engine)
        if last is None or last[0] != beat:
            self._last[engine] = (beat, now)
            return False
        return now - last[1] >= self._still_for

    def forget(self, engine: str) -> None:
        """`engine` is not watched (no beat here, or taken over): a beat read later counts
        from then."""
        self._last.pop(engine, None)


class EnginePresence:
    def __init__(self, ari: AriClient, engine: str, *, every: float = BEAT_EVERY) -> None:
        self._ari = ari
        self._variable = beat_variable(engine)
        self._every = every
        # A restarted engine's beat differs from the one before even at the same count.
        self.life = uuid.uuid4().hex[:8]

    async def run(self) -> None:
        """Beat until cancelled; a PBX out of reach misses beats, nothing else."""
        beat = 0
        while True:
            beat += 1
            try:
                await self._ari.set_global(self._variable, f"{self._ari.app}@{self.life}-{beat}")
            except (AriError, AriUnavailable, TimeoutError) as error:
                log.debug("presence.beat_missed", error=str(error) or type(error).__name__)
            await asyncio.sleep(self._every)

    async def beat_of(self, engine: str) -> BeatValue | None:
        """`engine`'s beat as it stands on this PBX (None: no beat here)."""
        return read_beat(await self._ari.get_global(beat_variable(engine)))
