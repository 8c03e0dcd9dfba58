"""The learned detector: a small tree ensemble over `GreetingFeatures`, asked as audio comes.

The model file (`models/amd-1.json`, some 70 kB) holds gradient-boosted trees trained by
`pbx-engine amd train` (the lab; the file carries the command, the corpora's seeds and the
figures it was chosen on) and the thresholds tuned with them. Here it is only evaluated, in
plain Python.

`LearnedListener` is fed 20 ms frames like the energy listener and gives the same kind of
verdict. At the moments a listener weighs a greeting (`asks_now`: as a pause grows, and every
half second of speech) it asks the model how likely a person, a machine and a call-screening
assistant are, given what it has heard, and decides as soon as it is sure:

- HUMAN when a person is likely enough and the line has been quiet for `min_human_silence_ms`;
- MACHINE when a machine or a screening assistant is (cause `LEARNED-...`, or `SCREENING-...`
  when the assistant is the likelier);
- FAX and a silent line (no speech in `initial_silence_ms`) as the energy listener hears them;
- NOTSURE at `total_analysis_ms`, when neither was sure: the dialer treats it as a person.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from pbx_engine.amd.beep import dominant_tone
from pbx_engine.amd.features import FEATURE_NAMES, GreetingFeatures
from pbx_engine.amd.listener import (
    AmdStatus,
    FaxTones,
    ListenerSettings,
    ListenerVerdict,
    frame_dbfs,
    zero_crossings,
)

MODEL_FILE = "amd-1.json"
_MIN_TONE_DBFS = -40.0
_TONE_PURITY = 0.75  # as the beep listener's: espeak-ng's vowels stay under 0.5
CLASSES = ("human", "machine", "screened")


@dataclass(frozen=True)
class Tree:
    """One regression tree, as flat arrays: node i splits on `feature[i] <= threshold[i]`
    (left) or not (right); a leaf has left == -1 and gives `value[i]`."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]

    def predict(self, x: Sequence[float]) -> float:
        node = 0
        left, right, feature, threshold = self.left, self.right, self.feature, self.threshold
        while left[node] != -1:
            node = left[node] if x[feature[node]] <= threshold[node] else right[node]
        return self.value[node]


@dataclass(frozen=True)
class TreeEnsemble:
    """Gradient-boosted trees for several classes: a raw score per class (the start value plus
    `learning_rate` times each stage's tree), turned into probabilities by softmax."""

    classes: tuple[str, ...]
    features: tuple[str, ...]
    initial: tuple[float, ...]
    learning_rate: float
    stages: tuple[tuple[Tree, ...], ...]  # per stage, a tree per class

    def probabilities(self, x: Sequence[float]) -> dict[str, float]:
        raw = list(self.initial)
        rate = self.learning_rate
        for stage in self.stages:
            for k, tree in enumerate(stage):
                raw[k] += rate * tree.predict(x)
        top = max(raw)
        exp = [math.exp(r - top) for r in raw]
        total = sum(exp)
        return {c: e / total for c, e in zip(self.classes, exp, strict=True)}

    @classmethod
    def from_json(cls, data: dict) -> TreeEnsemble:
        stages = tuple(
            tuple(
                Tree(
                    tuple(t["feature"]),
                    tuple(t["threshold"]),
                    tuple(t["left"]),
                    tuple(t["right"]),
                    tuple(t["value"]),
                )
                for t in stage
            )
            for stage in data["stages"]
        )
        return cls(
            tuple(data["classes"]),
            tuple(data["features"]),
            tuple(data["initial"]),
            float(data["learning_rate"]),
            stages,
        )


@dataclass(frozen=True)
class LearnedSettings:
    human_threshold: float = 0.8  # P(human) to say HUMAN
    machine_threshold: float = 0.9  # P(machine) + P(screened) to say MACHINE
    min_human_silence_ms: int = 200
    initial_silence_ms: int = 2500
    total_analysis_ms: int = 5000

    def with_changes(self, **changes: str | float | int) -> LearnedSettings:
        from pbx_engine.amd.listener import changed_settings

        return changed_settings(self, "learned detector", changes)


@dataclass(frozen=True)
class AmdModel:
    """A model file: the trees, the thresholds tuned with them, and how it was made."""

    name: str
    ensemble: TreeEnsemble
    settings: LearnedSettings
    recipe: dict

    @classmethod
    def from_json(cls, name: str, data: dict) -> AmdModel:
        if tuple(data["features"]) != FEATURE_NAMES:
            raise ValueError(f"{name}: trained on other features than this engine computes")
        return cls(
            name,
            TreeEnsemble.from_json(data),
            LearnedSettings(**data.get("settings", {})),
            data.get("recipe", {}),
        )


@cache
def shipped_model() -> AmdModel:
    """The model shipped with the engine (read once)."""
    text = resources.files("pbx_engine.amd").joinpath("models", MODEL_FILE).read_text("utf-8")
    return AmdModel.from_json(MODEL_FILE, json.loads(text))


# The moments the model is asked, as a listener weighs a greeting: at each pause, as it grows
# (a person's silence grows on; a machine's pause between sentences ends), and every half
# second while speech goes on.
PAUSE_EVENTS_MS = frozenset({300, 500, 700, 1000, 1400})
SPEECH_EVERY_MS = 500


def asks_now(f: GreetingFeatures) -> bool:
    if f.onset_ms is None:
        return False
    if f.silence_ms in PAUSE_EVENTS_MS:
        return True
    since = f.heard_ms - f.onset_ms
    return f.silence_ms < min(PAUSE_EVENTS_MS) and since > 0 and since % SPEECH_EVERY_MS == 0


def frame_zcr(samples: Sequence[int]) -> int:
    """The frame's zero crossings counted from a rest before it (a negative first sample is
    one more crossing), as the model's training counted them."""
    return zero_crossings(samples) + (1 if samples and samples[0] < 0 else 0)


@dataclass
class ToneSpotter:
    """Tells steady narrowband tones (a beep, a note of music, a fax) from speech, frame by
    frame. The costly look (Goertzel filters) only at frames whose zero crossings match the
    frame before: a tone's do, speech's seldom."""

    previous_zcr: int = -100

    def is_tone(self, samples: Sequence[int], level: float, zcr: int) -> bool:
        steady = abs(zcr - self.previous_zcr) <= 2
        self.previous_zcr = zcr
        if not steady or level < _MIN_TONE_DBFS:
            return False
        found = dominant_tone(samples, 300, 2500)
        return found is not None and found[1] >= _TONE_PURITY


@dataclass
class LearnedListener:
    model: AmdModel
    settings: LearnedSettings | None = None
    energy: ListenerSettings = field(default_factory=ListenerSettings)  # fax tones
    features: GreetingFeatures = field(default_factory=GreetingFeatures)
    fax: FaxTones = field(default_factory=FaxTones)
    tones: ToneSpotter = field(default_factory=ToneSpotter)
    verdict: ListenerVerdict | None = None
    last_probabilities: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.settings is None:
            self.settings = self.model.settings

    @property
    def heard_ms(self) -> int:
        return self.features.heard_ms

    @property
    def recent_levels(self):
        """The last frames' levels, from which a beep listener takes over the noise floor."""
        return self.features.levels

    def feed(self, samples: Sequence[int]) -> ListenerVerdict | None:
        """One 20 ms frame; returns the verdict once there is one (and the same one after)."""
        if self.verdict is not None:
            return self.verdict
        level = frame_dbfs(samples)
        self.fax.track(samples, level, self.energy)
        zcr = frame_zcr(samples)
        tone = self.tones.is_tone(samples, level, zcr) or self.fax.tone_hz is not None
        self.features.feed(level, tone=tone)
        self.verdict = self._decide()
        return self.verdict

    def _decide(self) -> ListenerVerdict | None:
        s = self.settings
        assert s is not None
        f = self.features
        now = f.heard_ms
        fax = self.fax.verdict(self.energy, now, speech_heard=f.onset_ms is not None)
        if fax is not None:
            return self._verdict(AmdStatus.FAX, fax)
        if f.onset_ms is None:
            if now >= s.initial_silence_ms and not self.fax.heard(self.energy):
                return self._verdict(
                    AmdStatus.MACHINE, f"INITIALSILENCE-{now}-{s.initial_silence_ms}"
                )
        elif asks_now(f):
            p = self.last_probabilities = self.model.ensemble.probabilities(f.vector())
            if p["human"] >= s.human_threshold and f.silence_ms >= s.min_human_silence_ms:
                return self._verdict(AmdStatus.HUMAN, f"HUMAN-{f.first_ms}-{f.silence_ms}")
            not_human = p["machine"] + p.get("screened", 0.0)
            if not_human >= s.machine_threshold:
                word = "SCREENING" if p.get("screened", 0.0) > p["machine"] else "LEARNED"
                return self._verdict(AmdStatus.MACHINE, f"{word}-{now}-{round(100 * not_human)}")
        if now >= s.total_analysis_ms:
            return self._verdict(AmdStatus.NOTSURE, f"TOOLONG-{now}")
        return None

    def _verdict(self, status: AmdStatus, cause: str) -> ListenerVerdict:
        f = self.features
        span = f.last_word_ms - f.onset_ms if f.onset_ms is not None and f.last_word_ms else 0
        return ListenerVerdict(status, cause, f.heard_ms, span, f.onset_ms)
