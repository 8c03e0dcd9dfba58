"""What the learned detector looks at: the timing of the answered party's speech so far.

`GreetingFeatures` is fed one 20 ms frame at a time (its level in dBFS, and whether it is a
steady tone) and keeps, in constant time per frame, the figures a listener goes by: how long
the first utterance ran and whether it has ended, how many utterances and pauses there were
and how long, how long the line has been silent now, how fast the words come, whether a beep
was heard. `vector()` gives them as floats in the order of `FEATURE_NAMES`, the order the
model was trained on.

Speech is told from silence as the energy listener tells it: a frame over the noise floor
(the quietest frame of the last 0.6 s) by 7 dB. Words are runs of such frames of at least
60 ms; utterances are words joined across gaps shorter than `PAUSE_MS`. A voice much louder
than all heard before restarts the count: what came before was the line's background (babble,
a radio), this is the one who answered. There is no clock time among the features (when the
call was answered, when speech began): how soon a recording starts talking says more about
the corpus a model was trained on than about calls.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

FRAME_MS = 20
PAUSE_MS = 300  # a gap this long ends an utterance; shorter ones fall between words
_FLOOR_FRAMES = 30  # 0.6 s
_SPEECH_MARGIN_DB = 7.0
_MIN_SPEECH_DBFS = -45.0
_MIN_WORD_MS = 60
_LOUDER_TALKER_DB = 10.0
_MIN_TONE_MS = 80

FEATURE_NAMES = (
    "since_onset_ms",
    "first_ms",  # the first utterance's length (so far, while it goes on)
    "first_done",  # 1 once a pause followed it
    "utterances",
    "silence_ms",  # since the last word (0 while one goes on)
    "speech_ms",  # words in all
    "span_ms",  # first word to last
    "longest_ms",  # the longest utterance
    "last_ms",  # the last (or current) utterance
    "longest_pause_ms",  # between utterances, the trailing silence not counted
    "words",
    "words_per_s",
    "tone_ms",  # steady tones (a beep) heard after speech began
)


@dataclass
class GreetingFeatures:
    heard_ms: int = 0
    levels: deque[float] = field(default_factory=lambda: deque(maxlen=_FLOOR_FRAMES))
    peak_dbfs: float = -96.0
    voiced_run_ms: int = 0
    tone_run_ms: int = 0
    words: int = 0
    onset_ms: int | None = None
    utterance_start_ms: int | None = None  # of the current or last utterance
    last_word_ms: int | None = None  # end of the last frame of a word
    utterances: int = 0
    first_ms: int = 0
    first_done: bool = False
    longest_ms: int = 0
    longest_pause_ms: int = 0
    speech_ms: int = 0
    tone_ms: int = 0
    restarts: int = 0

    def feed(self, level: float, *, tone: bool = False) -> None:
        """One frame's level (dBFS); `tone`: the frame is a steady tone (a beep, a fax's),
        never speech."""
        self.heard_ms += FRAME_MS
        self.levels.append(level)
        sound = level >= max(_MIN_SPEECH_DBFS, min(self.levels) + _SPEECH_MARGIN_DB)
        self.tone_run_ms = self.tone_run_ms + FRAME_MS if tone and sound else 0
        if self.tone_run_ms >= _MIN_TONE_MS and self.onset_ms is not None:
            # Counted once it has held (a vowel can pass for a tone for a frame or two).
            self.tone_ms += self.tone_run_ms if self.tone_run_ms == _MIN_TONE_MS else FRAME_MS
        if not sound or tone:
            self.voiced_run_ms = 0
            if self.utterances == 1 and self.silence_ms >= PAUSE_MS:
                self.first_done = True
            return
        if level >= self.peak_dbfs + _LOUDER_TALKER_DB and self.onset_ms is not None:
            self._restart()
        self.peak_dbfs = max(self.peak_dbfs, level)
        self.voiced_run_ms += FRAME_MS
        if self.voiced_run_ms >= _MIN_WORD_MS:
            self._in_word()

    def _restart(self) -> None:
        self.restarts += 1
        self.onset_ms = self.utterance_start_ms = self.last_word_ms = None
        self.utterances = self.first_ms = self.longest_ms = self.longest_pause_ms = 0
        self.speech_ms = self.tone_ms = self.words = self.voiced_run_ms = 0
        self.first_done = False

    def _in_word(self) -> None:
        now = self.heard_ms
        starting = self.voiced_run_ms == _MIN_WORD_MS
        if starting:
            self.words += 1
            began = now - self.voiced_run_ms
            gap = None if self.last_word_ms is None else began - self.last_word_ms
            if gap is None or gap >= PAUSE_MS:
                if gap is not None:
                    self.longest_pause_ms = max(self.longest_pause_ms, gap)
                self.utterances += 1
                self.utterance_start_ms = began
                if self.onset_ms is None:
                    self.onset_ms = began
            self.speech_ms += self.voiced_run_ms
        else:
            self.speech_ms += FRAME_MS
        self.last_word_ms = now
        assert self.utterance_start_ms is not None
        length = now - self.utterance_start_ms
        self.longest_ms = max(self.longest_ms, length)
        if self.utterances == 1:
            self.first_ms = length

    @property
    def silence_ms(self) -> int:
        if self.last_word_ms is None:
            return self.heard_ms
        return self.heard_ms - self.last_word_ms

    def vector(self) -> list[float]:
        if self.onset_ms is None or self.last_word_ms is None:
            return [0.0] * len(FEATURE_NAMES)
        assert self.utterance_start_ms is not None
        span = self.last_word_ms - self.onset_ms
        return [
            float(self.heard_ms - self.onset_ms),
            float(self.first_ms),
            1.0 if self.first_done else 0.0,
            float(self.utterances),
            float(self.silence_ms),
            float(self.speech_ms),
            float(span),
            float(self.longest_ms),
            float(self.last_word_ms - self.utterance_start_ms),
            float(self.longest_pause_ms),
            float(self.words),
            self.words * 1000.0 / span if span > 0 else 0.0,
            float(self.tone_ms),
        ]
