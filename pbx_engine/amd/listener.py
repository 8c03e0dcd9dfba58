"""The engine's own answering-machine detector: pure decision logic over 20 ms audio frames.

`AmdListener` is fed the answered party's audio, frame by frame (16-bit linear PCM, 8 kHz), and
decides from the pattern of speech and silence, as a person on the line would:

- someone who answers says a short greeting ("Hello?", "Yes, John speaking.") and then waits
  for an answer: speech, then a silence of `after_greeting_silence_ms` → HUMAN (a shorter
  silence, `after_short_greeting_silence_ms`, after a greeting of one or two words);
- a voicemail greeting keeps talking: speech still going on `max_greeting_ms` after it began,
  without such a silence → MACHINE;
- nothing said for `initial_silence_ms` → MACHINE with cause INITIALSILENCE (recorded as a
  silent line, like app_amd's);
- still undecided after `total_analysis_ms` → NOTSURE (treated as a person);
- a steady 1100 Hz (a calling fax's CNG) or 2100 Hz tone (an answering fax's or modem's CED)
  for `fax_tone_ms` → FAX. The trunk's own fax detection jumps to the dialplan, which a call
  kept in Stasis is not running, so the listener has to hear it itself. Fax tone is never
  speech: the tail of a CNG burst heard as listening starts is no "Yes?" followed by a
  silence, and a line that has sent fax tone waits for the next burst (every 3.5 s) rather
  than being called silent or unsure.

Speech is told from silence by frame energy against a noise floor that follows the line: the
quietest frame of the last `floor_window_ms`. Speech always dips between words, so the floor
stays under it, while steady line noise becomes the floor within that window and is not taken
for a talker. Verdicts carry app_amd's status and cause words, so everything downstream (outcome
rules, stored AMD status) is the same whichever detector ran. No I/O and no clock: time is the
count of frames fed.
"""

from __future__ import annotations

import math
import operator
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import TypeVar

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
_FULL_SCALE = 32768.0
_QUIET_DBFS = -96.0
_Settings = TypeVar("_Settings")


class AmdStatus(StrEnum):
    HUMAN = "HUMAN"
    MACHINE = "MACHINE"
    NOTSURE = "NOTSURE"
    FAX = "FAX"  # a fax machine's or modem's tone, not a voice


@dataclass(frozen=True)
class ListenerSettings:
    # Tuned with `pbx-engine amd evaluate` on corpora of seeds 1 to 4 (seed 5 held out): the
    # longest greetings of people ("Hi, this is Anna, who is calling?", slowly) run 3.3 s;
    # voicemail pauses between sentences reach 0.7 s, and a voicemail's first word can be a
    # 0.7 s "Здравствуйте," followed by a comma's pause.
    initial_silence_ms: int = 2500
    after_greeting_silence_ms: int = 800
    # A greeting this short ("Yes?", "Hello?") is no voicemail's first sentence: a shorter
    # silence after it is enough.
    short_greeting_ms: int = 600
    after_short_greeting_silence_ms: int = 500
    max_greeting_ms: int = 3500
    total_analysis_ms: int = 5000
    min_word_ms: int = 60  # shorter bursts are clicks and line noise, not words
    # Above the noise floor; more, and soft sounds under loud line noise (-30 dBFS) read as
    # pauses, which cut a voicemail greeting into a person's short one.
    speech_margin_db: float = 7.0
    fax_tone_ms: int = 400
    tone_purity: float = 0.7  # share of a frame's energy at the tone's frequency
    min_speech_dbfs: float = -45.0  # quieter frames are never speech, whatever the floor
    floor_window_ms: int = 600  # the noise floor is the quietest frame of this last while

    def with_changes(self, **changes: str | float | int) -> ListenerSettings:
        """A copy with some settings changed, values given as text (`--set name=value`)."""
        return changed_settings(self, "listener", changes)


def changed_settings(
    settings: _Settings, what: str, changes: dict[str, str | float | int]
) -> _Settings:
    """A copy of a frozen dataclass of int and float settings, values given as text."""
    known = {f.name: f.type for f in fields(settings)}  # type: ignore[arg-type]
    parsed: dict[str, float | int] = {}
    for name, value in changes.items():
        if name not in known:
            raise ValueError(f"no {what} setting {name!r} (known: {', '.join(known)})")
        kind = float if known[name] in ("float", float) else int
        parsed[name] = kind(value)
    return replace(settings, **parsed)  # type: ignore[type-var]


@dataclass(frozen=True)
class ListenerVerdict:
    status: AmdStatus
    cause: str  # app_amd's words: HUMAN-<greeting>-<silence>, LONGGREETING-<ms>-<limit>, …
    decided_ms: int  # audio heard when the verdict fell
    greeting_ms: int  # speech heard, first word to last, pauses inside it included
    onset_ms: int | None = None  # when the first word began (None: no speech heard)


def energy(samples: Sequence[int]) -> int:
    """The sum of the squared samples (map and mul run in C: a few times a generator's pace)."""
    return sum(map(operator.mul, samples, samples))


def zero_crossings(samples: Sequence[int]) -> int:
    """How often the signal changes sign in the frame; a pure tone of f Hz crosses about
    2 f n / 8000 times in n samples."""
    negative = [sample < 0 for sample in samples]
    return sum(map(operator.ne, negative, negative[1:]))


def frame_dbfs(samples: Sequence[int]) -> float:
    """A frame's energy (RMS) in dB below full scale."""
    if not samples:
        return _QUIET_DBFS
    power = energy(samples) / len(samples)
    if power <= 0:
        return _QUIET_DBFS
    return max(_QUIET_DBFS, 10 * math.log10(power / (_FULL_SCALE * _FULL_SCALE)))


# Fax tones, and the cause app_amd's dialplan gives them (engine.conf reports CNG).
FAX_TONES = {1100: "CNG", 2100: "CED"}
# A frame whose zero crossings put it further than this from a fax tone is not that tone: its
# Goertzel is skipped (most of the listener's time went there, on speech). A pure tone's
# estimate is good to 25 Hz; noise on the line adds crossings.
_FAX_ESTIMATE_SLACK_HZ = 200


def tone_purity(samples: Sequence[int], hz: int) -> float:
    """The share of the frame's energy at `hz` (Goertzel): near 1 for a pure tone at `hz`,
    near 0 for speech or noise. Exact for frequencies on a bin of the frame (50 Hz steps)."""
    n = len(samples)
    total = energy(samples)
    if n == 0 or total == 0:
        return 0.0
    coefficient = 2 * math.cos(2 * math.pi * hz / SAMPLE_RATE)
    previous = before = 0.0
    for sample in samples:
        previous, before = sample + coefficient * previous - before, previous
    power = previous * previous + before * before - coefficient * previous * before
    return power / (total * n / 2)


@dataclass
class FaxTones:
    """Fax tone heard on the line so far (both listeners use it)."""

    tone_hz: int | None = None  # the fax tone heard in the last frames, if any
    tone_run_ms: int = 0
    tone_heard_ms: int = 0  # fax tone heard in all
    last_tone_hz: int | None = None

    def track(self, samples: Sequence[int], level: float, settings: ListenerSettings) -> None:
        heard = None
        if level >= settings.min_speech_dbfs and samples:
            estimate = zero_crossings(samples) * SAMPLE_RATE / (2 * len(samples))
            heard = next(
                (
                    hz
                    for hz in FAX_TONES
                    if abs(estimate - hz) <= _FAX_ESTIMATE_SLACK_HZ
                    and tone_purity(samples, hz) >= settings.tone_purity
                ),
                None,
            )
        if heard is not None:
            self.tone_heard_ms += FRAME_MS
            self.last_tone_hz = heard
        if heard is None:
            self.tone_run_ms = 0
        elif heard == self.tone_hz:
            self.tone_run_ms += FRAME_MS
        else:
            self.tone_run_ms = FRAME_MS
        self.tone_hz = heard

    def heard(self, settings: ListenerSettings) -> bool:
        return self.tone_heard_ms >= settings.min_word_ms

    def verdict(self, settings: ListenerSettings, now: int, *, speech_heard: bool) -> str | None:
        """The fax's cause (CNG, CED) once the tone is sure, else None."""
        if self.tone_hz is not None and self.tone_run_ms >= settings.fax_tone_ms:
            return FAX_TONES[self.tone_hz]
        if not speech_heard and now >= settings.total_analysis_ms and self.heard(settings):
            # Bursts too short to time, but fax tone all the same.
            return FAX_TONES[self.last_tone_hz] if self.last_tone_hz is not None else None
        return None


@dataclass
class AmdListener:
    settings: ListenerSettings = field(default_factory=ListenerSettings)
    heard_ms: int = 0
    recent_levels: deque[float] = field(default_factory=deque)
    voiced_run_ms: int = 0  # consecutive frames above the threshold
    silent_run_ms: int = 0  # consecutive frames below it
    greeting_started_ms: int | None = None  # start of the first word
    greeting_ended_ms: int | None = None  # end of the last voiced frame of a word
    words: int = 0
    in_word: bool = False
    fax: FaxTones = field(default_factory=FaxTones)
    verdict: ListenerVerdict | None = None

    def feed(self, samples: Sequence[int]) -> ListenerVerdict | None:
        """One 20 ms frame; returns the verdict once there is one (and the same one after)."""
        if self.verdict is not None:
            return self.verdict
        self.heard_ms += FRAME_MS
        level = frame_dbfs(samples)
        voiced = self._voiced(level)
        self.fax.track(samples, level, self.settings)
        self._track_words(voiced and self.fax.tone_hz is None)
        self.verdict = self._decide()
        return self.verdict

    @property
    def noise_floor_dbfs(self) -> float | None:
        return min(self.recent_levels) if self.recent_levels else None

    def _voiced(self, level: float) -> bool:
        s = self.settings
        self.recent_levels.append(level)
        if len(self.recent_levels) > max(1, s.floor_window_ms // FRAME_MS):
            self.recent_levels.popleft()
        floor = min(self.recent_levels)
        return level >= max(s.min_speech_dbfs, floor + s.speech_margin_db)

    def _track_words(self, voiced: bool) -> None:
        s = self.settings
        if voiced:
            self.voiced_run_ms += FRAME_MS
            self.silent_run_ms = 0
            if not self.in_word and self.voiced_run_ms >= s.min_word_ms:
                self.in_word = True
                self.words += 1
                if self.greeting_started_ms is None:
                    self.greeting_started_ms = self.heard_ms - self.voiced_run_ms
            if self.in_word:
                self.greeting_ended_ms = self.heard_ms
        else:
            self.voiced_run_ms = 0
            self.silent_run_ms += FRAME_MS
            self.in_word = False

    def _decide(self) -> ListenerVerdict | None:
        s = self.settings
        now = self.heard_ms
        fax = self.fax.verdict(s, now, speech_heard=self.greeting_started_ms is not None)
        if fax is not None:
            return self._verdict(AmdStatus.FAX, fax)
        started = self.greeting_started_ms
        if started is None:
            if now >= s.initial_silence_ms and not self.fax.heard(s):
                return self._verdict(
                    AmdStatus.MACHINE, f"INITIALSILENCE-{now}-{s.initial_silence_ms}"
                )
        else:
            ended = self.greeting_ended_ms or now
            silence = now - ended
            wanted = (
                s.after_short_greeting_silence_ms
                if ended - started <= s.short_greeting_ms
                else s.after_greeting_silence_ms
            )
            if silence >= wanted:
                return self._verdict(AmdStatus.HUMAN, f"HUMAN-{ended - started}-{silence}")
            # Only while speech goes on: someone who stopped just before the limit may be
            # waiting for an answer, which the next frames will tell.
            if now - started >= s.max_greeting_ms and self.in_word:
                return self._verdict(
                    AmdStatus.MACHINE, f"LONGGREETING-{now - started}-{s.max_greeting_ms}"
                )
        if now >= s.total_analysis_ms:
            return self._verdict(AmdStatus.NOTSURE, f"TOOLONG-{now}")
        return None

    def _verdict(self, status: AmdStatus, cause: str) -> ListenerVerdict:
        started, ended = self.greeting_started_ms, self.greeting_ended_ms
        greeting = (ended - started) if started is not None and ended is not None else 0
        return ListenerVerdict(status, cause, self.heard_ms, greeting, started)


@dataclass
class Framer:
    """Cuts samples arriving in chunks of any size into whole 20 ms frames."""

    pending: list[int] = field(default_factory=list)

    def push(self, samples: Sequence[int]) -> Iterator[list[int]]:
        self.pending.extend(samples)
        while len(self.pending) >= FRAME_SAMPLES:
            frame = self.pending[:FRAME_SAMPLES]
            del self.pending[:FRAME_SAMPLES]
            yield frame
