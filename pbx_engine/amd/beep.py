"""When a voicemail greeting is over, so a message left on it is recorded whole.

`BeepListener` takes the frames that follow a MACHINE verdict (the same 20 ms frames of 16-bit
linear PCM at 8 kHz the `AmdListener` was fed) and says "go" once:

- a beep has ended: a steady narrowband tone (400 to 2000 Hz, 0.1 to 1.5 s) that stops. The box
  records from the end of its beep, so this is the earliest moment a message is kept whole;
- no beep, but the greeting's speech has been followed by `silence_ms` of silence: a box
  without a beep, or a beep not heard. 1 s, not the dialplan's 0.8 s: slow greetings pause
  longer than 0.8 s before their beep, and going then loses the start of the message;
- `max_wait_ms` have passed: go anyway rather than wait on a greeting that never ends.

A beep is told from a vowel frame by frame: the zero crossings estimate the frame's frequency,
and a Goertzel filter at that estimate (and its neighbours) measures which share of the frame's
energy lies there. A pure tone puts nearly all of it at one frequency; a vowel spreads it over
the harmonics of the voice, and its pitch glides from frame to frame. A tone must also hold its
frequency for `min_beep_ms`. No I/O and no clock: time is the count of frames fed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pbx_engine.amd.listener import (
    FRAME_MS,
    SAMPLE_RATE,
    changed_settings,
    frame_dbfs,
    tone_purity,
    zero_crossings,
)


class GoReason(StrEnum):
    BEEP = "BEEP"  # the beep ended
    SILENCE = "SILENCE"  # the greeting's speech was followed by enough silence
    CAP = "CAP"  # waited `max_wait_ms` without either


@dataclass(frozen=True)
class BeepSettings:
    silence_ms: int = 1000
    max_wait_ms: int = 20_000
    min_beep_ms: int = 100
    max_beep_ms: int = 1500  # a longer tone is no beep (a fax, a line tone)
    min_beep_hz: int = 400
    max_beep_hz: int = 2000
    # A pure tone scores near 1, a frame that is tone for only part of its 20 ms scores that
    # part; espeak-ng's vowels stay under 0.5.
    beep_purity: float = 0.75
    drift_hz: int = 50  # pitch change between two frames of one tone
    min_tone_dbfs: float = -40.0
    # Silence is told from sound as the AMD listener tells it: energy over the line's floor.
    speech_margin_db: float = 7.0
    min_speech_dbfs: float = -45.0
    floor_window_ms: int = 600

    def with_changes(self, **changes: str | float | int) -> BeepSettings:
        """A copy with some settings changed, values given as text (`--beep-set name=value`)."""
        return changed_settings(self, "beep", changes)


@dataclass(frozen=True)
class GreetingOver:
    reason: GoReason
    heard_ms: int  # audio fed to the beep listener when it said go
    beep_ms: int | None = None  # how long the beep lasted, when there was one
    beep_hz: int | None = None


_SEARCH_STEP_HZ = 25


def dominant_tone(samples: Sequence[int], low_hz: int, high_hz: int) -> tuple[int, float] | None:
    """(frequency, purity) of the strongest single frequency near the frame's zero-crossing
    estimate, or None when that estimate is outside `low_hz`..`high_hz`."""
    estimate = zero_crossings(samples) * SAMPLE_RATE / (2 * len(samples)) if samples else 0.0
    if not low_hz - 2 * _SEARCH_STEP_HZ <= estimate <= high_hz + 2 * _SEARCH_STEP_HZ:
        return None
    # The crossings count is good to one crossing (25 Hz in a 20 ms frame): look around it.
    centre = round(estimate / _SEARCH_STEP_HZ) * _SEARCH_STEP_HZ
    candidates = (centre + k * _SEARCH_STEP_HZ for k in (-2, -1, 0, 1, 2))
    purity, hz = max((tone_purity(samples, hz), hz) for hz in candidates)
    return hz, purity


@dataclass
class BeepListener:
    settings: BeepSettings = field(default_factory=BeepSettings)
    heard_ms: int = 0
    recent_levels: deque[float] = field(default_factory=deque)
    silent_run_ms: int = 0
    tone_hz: int | None = None  # the tone of the last frames, if any
    tone_run_ms: int = 0
    over: GreetingOver | None = None

    @classmethod
    def after(cls, levels: Iterable[float], settings: BeepSettings | None = None) -> BeepListener:
        """Going on from the AMD listener: its recent frame levels give the line's floor at
        once, and the greeting (still speaking at a MACHINE verdict) is taken as under way."""
        listener = cls(settings or BeepSettings())
        for level in levels:
            listener._floor_with(level)
        return listener

    def feed(self, samples: Sequence[int]) -> GreetingOver | None:
        """One 20 ms frame; returns the go once there is one (and the same one after)."""
        if self.over is not None:
            return self.over
        s = self.settings
        self.heard_ms += FRAME_MS
        level = frame_dbfs(samples)
        floor = self._floor_with(level)
        tone = None
        if level >= s.min_tone_dbfs:
            found = dominant_tone(samples, s.min_beep_hz, s.max_beep_hz)
            if found is not None and found[1] >= s.beep_purity:
                tone = found[0]
        beep = self._track_tone(tone)
        if beep is not None:
            self.over = GreetingOver(GoReason.BEEP, self.heard_ms, *beep)
            return self.over
        sounding = tone is not None or level >= max(s.min_speech_dbfs, floor + s.speech_margin_db)
        self.silent_run_ms = 0 if sounding else self.silent_run_ms + FRAME_MS
        if self.silent_run_ms >= s.silence_ms:
            self.over = GreetingOver(GoReason.SILENCE, self.heard_ms)
        elif self.heard_ms >= s.max_wait_ms:
            self.over = GreetingOver(GoReason.CAP, self.heard_ms)
        return self.over

    def _floor_with(self, level: float) -> float:
        self.recent_levels.append(level)
        if len(self.recent_levels) > max(1, self.settings.floor_window_ms // FRAME_MS):
            self.recent_levels.popleft()
        return min(self.recent_levels)

    def _track_tone(self, tone: int | None) -> tuple[int, int] | None:
        """Follows the tone from frame to frame; (length, frequency) of a beep that has just
        ended, else None."""
        s = self.settings
        ended = None
        steady = (
            tone is not None and self.tone_hz is not None and abs(tone - self.tone_hz) <= s.drift_hz
        )
        if not steady and self.tone_hz is not None:
            if s.min_beep_ms <= self.tone_run_ms <= s.max_beep_ms:
                ended = (self.tone_run_ms, self.tone_hz)
            self.tone_run_ms = 0
        if tone is None:
            self.tone_hz = None
        else:
            self.tone_run_ms += FRAME_MS
            self.tone_hz = tone
        return ended
